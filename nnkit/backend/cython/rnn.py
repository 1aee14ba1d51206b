"""Recurrent time loops (SimpleRNN, LSTM, GRU): checks, the whole-sequence GEMMs and the outputs here, the
time loop itself in ``csrc/rnn.pyx``.

Forward: one GEMM projects every step's input (x W, all T steps at once), then the kernel runs the steps
(per step one GEMM for h R and one pass over the gates).  Backward: the kernel runs the steps in reverse
and leaves every step's gate gradients; the weight gradients and dx are then one GEMM each over all
steps.  Semantics, argument order and errors are the reference's (``nnkit.backend.reference.rnn``).
"""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import rnn as _ext

from ..reference import rnn as _reference
from ..reference.rnn import check_backward, check_forward
from ..twin import twin_of

__all__ = ["simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]

# Below this many multiply-adds (per call) a parallel region costs more than it saves.
_MIN_PARALLEL_MACS = 1 << 18
# Each worker of the time loop packs the whole recurrent kernel for its GEMM at every step: with fewer
# rows than this per worker the packing, not the product, would be what the extra threads do.
_MIN_ROWS_PER_THREAD = 8
_SIMPLE, _LSTM, _GRU, _GRU_BEFORE = range(4)


def _loop_threads(batch, macs):
    """Workers for the time loop: each takes a block of batch rows through every step."""
    return max(1, min(_threads.team_above(macs, _MIN_PARALLEL_MACS), batch // _MIN_ROWS_PER_THREAD))


def _empty(ndim, dtype):
    return np.empty((0,) * ndim, dtype)


def _matmul(a, b, c, trans_a=False, trans_b=False, accumulate=False):
    """c = op(a) op(b) on 2-D views with unit stride along rows (column slices of C-contiguous arrays)."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    _ext.matmul_strided(a, b, c, trans_a, trans_b, accumulate, _threads.team_above(m * n * k, _MIN_PARALLEL_MACS))


def _forward(op, x, states, kernel, recurrent_kernel, bias, mask, go_backwards, activation, recurrent_activation,
             recurrent_dropout_mask, zero_output_for_mask, training, reset_after=True):
    x, states, kernel, rk, bias, mask, rdm, act, ract = check_forward(
        op, x, states, kernel, recurrent_kernel, bias, mask, recurrent_dropout_mask, activation,
        recurrent_activation, reset_after)
    batch, steps, features = x.shape
    units, gu = rk.shape
    dtype = x.dtype
    cell = {"simple_rnn": _SIMPLE, "lstm": _LSTM, "gru": _GRU if reset_after else _GRU_BEFORE}[op]
    groups = 0 if rdm is None else rdm.shape[1] // units  # 1: one mask for every gate; G: one per gate
    gates = np.empty((batch, steps, gu), dtype)
    _matmul(x.reshape(batch * steps, features), kernel, gates.reshape(batch * steps, gu))
    y = np.empty((batch, steps + len(states), units), dtype)
    for i, s in enumerate(states):
        y[:, steps + i] = s
    zeros = np.zeros(gu, dtype)
    bias_in = zeros if bias is None else (bias[0] if cell == _GRU else bias)
    bias_rec = bias[1] if cell == _GRU and bias is not None else zeros
    saving = {"hprev": training, "cprev": training and cell == _LSTM, "aux": training and cell != _SIMPLE}
    buffers = {k: np.empty((batch, steps, units), dtype) if v else _empty(3, dtype) for k, v in saving.items()}
    mask_u8 = _empty(2, np.uint8) if mask is None else mask.view(np.uint8)
    _ext.rnn_forward(cell, gates, rk, np.ascontiguousarray(bias_in), np.ascontiguousarray(bias_rec),
                     _empty(2, dtype) if rdm is None else rdm, groups, mask_u8, y, buffers["hprev"],
                     buffers["cprev"], buffers["aux"], bool(go_backwards), act, ract, bool(zero_output_for_mask),
                     _loop_threads(batch, batch * steps * units * gu))
    if not training:
        return y, None
    saved = dict(op=op, cell=cell, x=x, kernel=kernel, rk=rk, has_bias=bias is not None, gates=gates, rdm=rdm,
                 groups=groups, mask=mask_u8, go_backwards=bool(go_backwards), act=act, ract=ract,
                 zero_output=bool(zero_output_for_mask), y_shape=y.shape, dtype=dtype, **buffers)
    return y, saved


def _backward(op, dy, saved):
    dy = check_backward(op, dy, saved)
    cell, x, kernel, rk, gates = saved["cell"], saved["x"], saved["kernel"], saved["rk"], saved["gates"]
    batch, steps, features = x.shape
    units, gu = rk.shape
    dtype, rows = dy.dtype, batch * steps
    dg = np.empty((batch, steps, gu), dtype)
    drec = np.empty((batch, steps, gu), dtype) if cell == _GRU else _empty(3, dtype)
    dh = np.ascontiguousarray(dy[:, steps])
    dc = np.ascontiguousarray(dy[:, steps + 1]) if cell == _LSTM else _empty(2, dtype)
    rdm, groups = saved["rdm"], saved["groups"]
    _ext.rnn_backward(cell, gates, np.ascontiguousarray(rk.T), _empty(2, dtype) if rdm is None else rdm, groups,
                      saved["mask"], dy, saved["hprev"], saved["cprev"], saved["aux"], dg, drec, dh, dc,
                      saved["go_backwards"], saved["act"], saved["ract"], saved["zero_output"],
                      _loop_threads(batch, batch * steps * units * gu))
    dg2, x2 = dg.reshape(rows, gu), x.reshape(rows, features)
    dkernel = np.empty((features, gu), dtype)
    _matmul(x2, dg2, dkernel, trans_a=True)
    dx = np.empty((batch, steps, features), dtype)
    _matmul(dg2, kernel, dx.reshape(rows, features), trans_b=True)
    drk = _recurrent_kernel_grad(cell, saved, (drec if cell == _GRU else dg).reshape(rows, gu), rows, units, gu)
    dbias = None
    if saved["has_bias"]:
        dbias = dg2.sum(axis=0)
        if cell == _GRU:
            dbias = np.stack([dbias, drec.reshape(rows, gu).sum(axis=0)])
    states = (dh, dc) if cell == _LSTM else (dh,)
    return (dx,) + states + (dkernel, drk, dbias)


def _recurrent_kernel_grad(cell, saved, d, rows, units, gu):
    """dR = sum over steps of (what met R)^T d: h_{t-1}, masked per gate group with dropout; for GRU
    reset_after=False the h gate's columns met r ⊙ h ⊙ m_h (saved as aux)."""
    hprev = saved["hprev"].reshape(rows, units)
    rdm, groups = saved["rdm"], saved["groups"]
    drk = np.empty((units, gu), d.dtype)
    cols = 2 * units if cell == _GRU_BEFORE else gu
    if cell == _GRU_BEFORE:
        _matmul(saved["aux"].reshape(rows, units), d[:, cols:], drk[:, cols:], trans_a=True)
        groups = 2 if groups == 3 else groups
    if not groups:
        _matmul(hprev, d[:, :cols], drk[:, :cols], trans_a=True)
        return drk
    width = cols // groups
    for g in range(groups):
        dropped = (saved["hprev"] * rdm[:, None, g * units:(g + 1) * units]).reshape(rows, units)
        _matmul(dropped, d[:, g * width:(g + 1) * width], drk[:, g * width:(g + 1) * width], trans_a=True)
    return drk


@twin_of(_reference.simple_rnn_forward)
def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
                       activation="tanh", recurrent_dropout_mask=None, zero_output_for_mask=False, training=True):
    return _forward("simple_rnn", x, (h0,), kernel, recurrent_kernel, bias, mask, go_backwards, activation,
                    None, recurrent_dropout_mask, zero_output_for_mask, training)


@twin_of(_reference.simple_rnn_backward)
def simple_rnn_backward(dy, saved):
    return _backward("simple_rnn", dy, saved)


@twin_of(_reference.lstm_forward)
def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None, go_backwards=False,
                 activation="tanh", recurrent_activation="sigmoid", recurrent_dropout_mask=None,
                 zero_output_for_mask=False, training=True):
    return _forward("lstm", x, (h0, c0), kernel, recurrent_kernel, bias, mask, go_backwards, activation,
                    recurrent_activation, recurrent_dropout_mask, zero_output_for_mask, training)


@twin_of(_reference.lstm_backward)
def lstm_backward(dy, saved):
    return _backward("lstm", dy, saved)


@twin_of(_reference.gru_forward)
def gru_forward(x, h0, kernel, recurrent_kernel, bias=None, reset_after=True, mask=None, go_backwards=False,
                activation="tanh", recurrent_activation="sigmoid", recurrent_dropout_mask=None,
                zero_output_for_mask=False, training=True):
    return _forward("gru", x, (h0,), kernel, recurrent_kernel, bias, mask, go_backwards, activation,
                    recurrent_activation, recurrent_dropout_mask, zero_output_for_mask, training, bool(reset_after))


@twin_of(_reference.gru_backward)
def gru_backward(dy, saved):
    return _backward("gru", dy, saved)
