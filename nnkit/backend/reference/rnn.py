"""Recurrent layers' time loops (SimpleRNN, LSTM, GRU): the pure-NumPy reference.

Keras 3's weight layout and semantics.  ``x`` is (B, T, F); the states are (B, U).

    simple_rnn  h = act(x W + (h ⊙ m) R + b)                       W (F, U), R (U, U), b (U,)
    lstm        gates i, f, c, o = ract, ract, act, ract of x W + (h ⊙ m_g) R_g + b
                c = f c + i g;  h = o act(c)                       W (F, 4U), R (U, 4U), b (4U,)
    gru         gates z, r, h;  z, r = ract(x W_g + (h ⊙ m_g) R_g + b_g)
                reset_after:      hh = act(x W_h + b_h + r ⊙ ((h ⊙ m_h) R_h + b_rh))   b (2, 3U)
                not reset_after:  hh = act(x W_h + (r ⊙ h ⊙ m_h) R_h + b_h)           b (3U,)
                h = z h + (1 - z) hh   (the undropped h)           W (F, 3U), R (U, 3U)

``m_g`` is the recurrent dropout mask of gate g, the same at every step:
``recurrent_dropout_mask`` is (B, U) (one mask for every gate) or (B, G U),
one mask per gate as Keras 3 draws them (G = 1, 4, 3), already scaled by
``1 / (1 - rate)``.

``mask`` (B, T) bool marks the steps that count: at a masked step every
state keeps its previous value and the output is that carried ``h`` (so the
first steps of a sequence masked from the start output the initial state, as
Keras's NumPy and JAX backends do), or zeros when ``zero_output_for_mask``.
``go_backwards`` processes the steps last to first; the outputs come in that
processing order, as Keras returns them.

The forward returns ``y`` (B, T + S, U): the T outputs, then the S final
states (h; h, c for the LSTM), all in one array so that one autograd op can
return them; plus what the backward needs (``None`` when not ``training``).
The backward takes the gradient of that ``y`` and returns one per input.
The ``check_*`` functions are the argument checks shared with the Cython
backend.
"""
import numpy as np

from ..validate import float_array, same_dtype, shape_is

__all__ = ["simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]

# The activations a recurrent kernel knows, in the order of the Cython kernel's enum.
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "hard_sigmoid")
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}


# ----------------------------------------------------------------------------- argument checks

def check_activation(op, name, value):
    """The activation's index in ACTIVATIONS (None is 'linear', as in Keras)."""
    value = "linear" if value is None else value
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ValueError(f"{op}: expected {name} to be one of {', '.join(ACTIVATIONS)}, got {value!r}")
    return ACTIVATIONS.index(value)


def check_forward(op, x, states, kernel, recurrent_kernel, bias, mask, recurrent_dropout_mask,
                  activation, recurrent_activation, reset_after=True):
    """Checked arrays (C-contiguous, one dtype) and the activation codes.

    Returns ``(x, states, kernel, recurrent_kernel, bias, mask, rdm, act, ract)`` where ``rdm``
    is None, (B, U) (one mask for every gate) or (B, G U) (one per gate).
    """
    gates = GATES[op]
    x = float_array(op, "x", x, ndim=3)
    batch, steps, features = x.shape
    recurrent_kernel = float_array(op, "recurrent_kernel", recurrent_kernel, ndim=2)
    units = recurrent_kernel.shape[0]
    if units < 1:
        raise ValueError(f"{op}: expected recurrent_kernel (U, {gates} U) with U >= 1, "
                         f"got shape {recurrent_kernel.shape}")
    shape_is(op, "recurrent_kernel", recurrent_kernel, (units, gates * units))
    kernel = float_array(op, "kernel", kernel, ndim=2)
    shape_is(op, "kernel", kernel, (features, gates * units))
    names = ("h0", "c0")
    states = tuple(float_array(op, names[i], s, ndim=2) for i, s in enumerate(states))
    for name, s in zip(names, states):
        shape_is(op, name, s, (batch, units))
    if bias is not None:
        bias = float_array(op, "bias", bias)
        shape_is(op, "bias", bias, (2, 3 * units) if op == "gru" and reset_after else (gates * units,))
    rdm = recurrent_dropout_mask
    if rdm is not None:
        rdm = float_array(op, "recurrent_dropout_mask", rdm, ndim=2)
        if rdm.shape not in ((batch, units), (batch, gates * units)):
            raise ValueError(f"{op}: expected recurrent_dropout_mask of shape {(batch, units)} or "
                             f"{(batch, gates * units)}, got {rdm.shape}")
    same_dtype(op, x=x, **dict(zip(names, states)), kernel=kernel, recurrent_kernel=recurrent_kernel, bias=bias,
               recurrent_dropout_mask=rdm)
    if mask is not None:
        if not isinstance(mask, np.ndarray):
            raise TypeError(f"{op}: expected mask to be a numpy.ndarray of bool, got {type(mask).__name__}")
        if mask.dtype != np.bool_:
            raise TypeError(f"{op}: expected mask to have dtype bool, got {mask.dtype}")
        shape_is(op, "mask", mask, (batch, steps))
        mask = np.ascontiguousarray(mask)
    act = check_activation(op, "activation", activation)
    ract = check_activation(op, "recurrent_activation", recurrent_activation)
    return x, states, kernel, recurrent_kernel, bias, mask, rdm, act, ract


def check_backward(op, dy, saved):
    """``dy`` must be float, of the forward's ``y`` shape and dtype."""
    if saved is None:
        raise ValueError(f"{op}: the forward ran with training=False and saved nothing to differentiate")
    dy = float_array(op, "dy", dy, ndim=3)
    shape_is(op, "dy", dy, saved["y_shape"])
    if dy.dtype != saved["dtype"]:
        raise TypeError(f"{op}: expected dy of the forward's dtype {saved['dtype']}, got {dy.dtype}")
    return dy


# ----------------------------------------------------------------------------- activations

def activate(code, z):
    name = ACTIVATIONS[code]
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":  # written so that exp never overflows
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    if name == "tanh":
        return np.tanh(z)
    return np.clip(z / 6 + 0.5, 0, 1)  # hard_sigmoid, Keras 3's: relu6(x + 3) / 6


def activation_grad(code, y):
    """d act / d z, written with the activation's output y = act(z)."""
    name = ACTIVATIONS[code]
    if name == "linear":
        return np.ones_like(y)
    if name == "relu":
        return (y > 0).astype(y.dtype)
    if name == "sigmoid":
        return y * (1 - y)
    if name == "tanh":
        return 1 - y * y
    return ((y > 0) & (y < 1)).astype(y.dtype) / 6  # hard_sigmoid


# ----------------------------------------------------------------------------- per-gate projections

def _project(h, rk, rdm, gates):
    """(B, G U): gate g's columns are (h ⊙ m_g) R_g (plain h R without dropout)."""
    if rdm is None:
        return h @ rk
    b, u = h.shape
    hd = (np.tile(h, (1, gates)) * rdm).reshape(b, gates, u)
    return np.einsum("bgu,ugv->bgv", hd, rk.reshape(u, gates, u)).reshape(b, gates * u)


def _project_backward(d, h, rk, rdm, gates):
    """Gradients of ``_project`` for its output gradient d: (dh, dR)."""
    if rdm is None:
        return d @ rk.T, h.T @ d
    b, u = h.shape
    d3, m3 = d.reshape(b, gates, u), rdm.reshape(b, gates, u)
    hd = h[:, None, :] * m3
    dh = (np.einsum("bgv,ugv->bgu", d3, rk.reshape(u, gates, u)) * m3).sum(axis=1)
    drk = np.einsum("bgu,bgv->ugv", hd, d3).reshape(u, gates * u)
    return dh, drk


# ----------------------------------------------------------------------------- cells: one step and its gradient

def _split(a, parts):
    return np.split(a, parts, axis=-1)


class _SimpleRNN:
    gates, states = 1, 1

    def __init__(self, p):
        self.p = p

    def step(self, xw, state):
        (h,) = state
        p = self.p
        y = activate(p.act, xw + _project(h, p.rk, p.rdm, 1))
        return (y,), (y, h)

    def step_backward(self, dstate, cache):
        (dh,) = dstate
        y, h = cache
        p = self.p
        dz = dh * activation_grad(p.act, y)
        dh_prev, drk = _project_backward(dz, h, p.rk, p.rdm, 1)
        return dz, (dh_prev,), drk, None


class _LSTM:
    gates, states = 4, 2

    def __init__(self, p):
        self.p = p

    def step(self, xw, state):
        h, c = state
        p = self.p
        zi, zf, zc, zo = _split(xw + _project(h, p.rk, p.rdm, 4), 4)
        i, f, g, o = activate(p.ract, zi), activate(p.ract, zf), activate(p.act, zc), activate(p.ract, zo)
        c_new = f * c + i * g
        ac = activate(p.act, c_new)
        return (o * ac, c_new), (i, f, g, o, c, ac, h)

    def step_backward(self, dstate, cache):
        dh, dc = dstate
        i, f, g, o, c, ac, h = cache
        p = self.p
        dc = dc + dh * o * activation_grad(p.act, ac)
        dz = np.concatenate([dc * g * activation_grad(p.ract, i), dc * c * activation_grad(p.ract, f),
                             dc * i * activation_grad(p.act, g), dh * ac * activation_grad(p.ract, o)], axis=1)
        dh_prev, drk = _project_backward(dz, h, p.rk, p.rdm, 4)
        return dz, (dh_prev, dc * f), drk, None


class _GRU:
    gates, states = 3, 1

    def __init__(self, p):
        self.p = p

    def step(self, xw, state):
        (h,) = state
        p = self.p
        u = h.shape[1]
        xz, xr, xh = _split(xw, 3)
        if p.reset_after:
            rec = _project(h, p.rk, p.rdm, 3)
            if p.bias is not None:
                rec = rec + p.bias[1]
            rz, rr, rh = _split(rec, 3)
            z, r = activate(p.ract, xz + rz), activate(p.ract, xr + rr)
            hh = activate(p.act, xh + r * rh)
            extra = rh
        else:
            rdm = None if p.rdm is None else p.rdm[:, :2 * u]
            rz, rr = _split(_project(h, p.rk[:, :2 * u], rdm, 2), 2)
            z, r = activate(p.ract, xz + rz), activate(p.ract, xr + rr)
            hd = h if p.rdm is None else h * p.rdm[:, 2 * u:]
            extra = r * hd  # the vector that meets R_h
            hh = activate(p.act, xh + extra @ p.rk[:, 2 * u:])
        return (z * h + (1 - z) * hh,), (z, r, hh, h, extra)

    def step_backward(self, dstate, cache):
        (dh,) = dstate
        z, r, hh, h, extra = cache
        p = self.p
        u = h.shape[1]
        dzz = dh * (h - hh) * activation_grad(p.ract, z)
        dah = dh * (1 - z) * activation_grad(p.act, hh)
        if p.reset_after:
            dar = dah * extra * activation_grad(p.ract, r)
            drec = np.concatenate([dzz, dar, dah * r], axis=1)
            dh_prev, drk = _project_backward(drec, h, p.rk, p.rdm, 3)
            return np.concatenate([dzz, dar, dah], axis=1), (dh * z + dh_prev,), drk, drec.sum(axis=0)
        rk_h = p.rk[:, 2 * u:]
        dq = dah @ rk_h.T  # gradient of r ⊙ h ⊙ m_h
        hd = h if p.rdm is None else h * p.rdm[:, 2 * u:]
        dar = dq * hd * activation_grad(p.ract, r)
        dzr = np.concatenate([dzz, dar], axis=1)
        rdm = None if p.rdm is None else p.rdm[:, :2 * u]
        dh_zr, drk_zr = _project_backward(dzr, h, p.rk[:, :2 * u], rdm, 2)
        dh_h = dq * r if p.rdm is None else dq * r * p.rdm[:, 2 * u:]
        drk = np.concatenate([drk_zr, extra.T @ dah], axis=1)
        return np.concatenate([dzr, dah], axis=1), (dh * z + dh_zr + dh_h,), drk, None


CELLS = {"simple_rnn": _SimpleRNN, "lstm": _LSTM, "gru": _GRU}


class _Params:
    def __init__(self, **kw):
        self.__dict__.update(kw)


# ----------------------------------------------------------------------------- the time loop

def _forward(op, x, states, kernel, recurrent_kernel, bias, mask, go_backwards, activation, recurrent_activation,
             recurrent_dropout_mask, zero_output_for_mask, training, reset_after=True):
    x, states, kernel, rk, bias, mask, rdm, act, ract = check_forward(
        op, x, states, kernel, recurrent_kernel, bias, mask, recurrent_dropout_mask, activation,
        recurrent_activation, reset_after)
    batch, steps, _ = x.shape
    units = rk.shape[0]
    if rdm is not None and rdm.shape[1] == units:
        rdm = np.tile(rdm, (1, CELLS[op].gates))  # the one mask, for every gate
    p = _Params(rk=rk, rdm=rdm, act=act, ract=ract, bias=bias, reset_after=reset_after)
    cell = CELLS[op](p)
    xs = x.transpose(1, 0, 2)  # time-major, in processing order
    keep = None if mask is None else mask.T
    if go_backwards:
        xs = xs[::-1]
        keep = None if keep is None else keep[::-1]
    xw = xs @ kernel
    if bias is not None:
        xw = xw + (bias[0] if bias.ndim == 2 else bias)
    y = np.empty((batch, steps + len(states), units), dtype=x.dtype)
    caches = []
    for t in range(steps):
        new, cache = cell.step(xw[t], states)
        caches.append(cache)
        if keep is None:
            states = new
            y[:, t] = new[0]
        else:
            k = keep[t][:, None]
            states = tuple(np.where(k, n, s) for n, s in zip(new, states))
            y[:, t] = np.where(k, new[0], 0) if zero_output_for_mask else states[0]
    for i, s in enumerate(states):
        y[:, steps + i] = s
    if not training:
        return y, None
    saved = dict(op=op, cell=cell, caches=caches, xs=xs, keep=keep, kernel=kernel, has_bias=bias is not None,
                 zero_output=zero_output_for_mask, go_backwards=go_backwards, y_shape=y.shape, dtype=y.dtype)
    return y, saved


def _backward(op, dy, saved):
    dy = check_backward(op, dy, saved)
    cell, keep, xs, kernel = saved["cell"], saved["keep"], saved["xs"], saved["kernel"]
    steps, batch, features = xs.shape
    units = dy.shape[2]
    gu = cell.gates * units
    dstates = tuple(dy[:, steps + i].copy() for i in range(cell.states))
    dxw = np.zeros((steps, batch, gu), dtype=dy.dtype)
    drk = np.zeros((units, gu), dtype=dy.dtype)
    drb = np.zeros(gu, dtype=dy.dtype)
    for t in reversed(range(steps)):
        dout = dy[:, t]
        if keep is None:
            dnew = (dstates[0] + dout,) + dstates[1:]
            carry = None
        else:
            k = keep[t][:, None]
            if saved["zero_output"]:
                dnew = (np.where(k, dstates[0] + dout, 0),) + tuple(np.where(k, d, 0) for d in dstates[1:])
                carry = tuple(np.where(k, 0, d) for d in dstates)
            else:
                d0 = dstates[0] + dout
                dnew = tuple(np.where(k, d, 0) for d in (d0,) + dstates[1:])
                carry = tuple(np.where(k, 0, d) for d in (d0,) + dstates[1:])
        dxw[t], dprev, drk_t, drb_t = cell.step_backward(dnew, saved["caches"][t])
        drk += drk_t
        if drb_t is not None:
            drb += drb_t
        dstates = dprev if carry is None else tuple(a + b for a, b in zip(dprev, carry))
    flat = dxw.reshape(steps * batch, gu)
    dkernel = xs.reshape(steps * batch, features).T @ flat
    dxs = dxw @ kernel.T
    if saved["go_backwards"]:
        dxs = dxs[::-1]
    dx = np.ascontiguousarray(dxs.transpose(1, 0, 2))
    dbias = None
    if saved["has_bias"]:
        dbias = flat.sum(axis=0)
        if op == "gru" and cell.p.reset_after:
            dbias = np.stack([dbias, drb])
    return (dx,) + dstates + (dkernel, drk, dbias)


def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
                       activation="tanh", recurrent_dropout_mask=None, zero_output_for_mask=False, training=True):
    """``(y, saved)``: y (B, T + 1, U) holds the outputs then h_T (see the module docstring)."""
    return _forward("simple_rnn", x, (h0,), kernel, recurrent_kernel, bias, mask, go_backwards, activation,
                    None, recurrent_dropout_mask, zero_output_for_mask, training)


def simple_rnn_backward(dy, saved):
    """``(dx, dh0, dkernel, drecurrent_kernel, dbias)`` (dbias None without a bias)."""
    return _backward("simple_rnn", dy, saved)


def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
                 activation="tanh", recurrent_activation="sigmoid", recurrent_dropout_mask=None,
                 zero_output_for_mask=False, training=True):
    """``(y, saved)``: y (B, T + 2, U) holds the outputs, then h_T, then c_T."""
    return _forward("lstm", x, (h0, c0), kernel, recurrent_kernel, bias, mask, go_backwards, activation,
                    recurrent_activation, recurrent_dropout_mask, zero_output_for_mask, training)


def lstm_backward(dy, saved):
    """``(dx, dh0, dc0, dkernel, drecurrent_kernel, dbias)`` (dbias None without a bias)."""
    return _backward("lstm", dy, saved)


def gru_forward(x, h0, kernel, recurrent_kernel, bias=None, reset_after=True, mask=None, go_backwards=False,
                activation="tanh", recurrent_activation="sigmoid", recurrent_dropout_mask=None,
                zero_output_for_mask=False, training=True):
    """``(y, saved)``: y (B, T + 1, U) holds the outputs then h_T."""
    return _forward("gru", x, (h0,), kernel, recurrent_kernel, bias, mask, go_backwards, activation,
                    recurrent_activation, recurrent_dropout_mask, zero_output_for_mask, training, bool(reset_after))


def gru_backward(dy, saved):
    """``(dx, dh0, dkernel, drecurrent_kernel, dbias)`` (dbias None without a bias)."""
    return _backward("gru", dy, saved)
