"""LRP rules as modified gradients (zennit's semantics).

A rule explains one linear map ``z = f(x; kernel, bias)`` (a Dense, a
convolution, a pooling or a residual sum).  It runs ``f`` a few times with
modified inputs and parameters (the *variants*), maps the upper relevance
``R`` to one cotangent per variant from those outputs, takes one backward of
``f`` per variant, and reduces inputs times gradients to the relevance of
``x``.  For the Epsilon rule that is ``R_x = x * J_f^T (R / stabilize(z))``.

``stabilize(z) = z + eps * sign(z)`` with ``sign(0) = +1``, so a denominator
is never closer to zero than ``eps``; with ``eps = 0`` a zero denominator
gives zero relevance (never NaN).
"""
import numpy as np

from nnkit.tensor import Tensor, enable_grad

__all__ = ["Rule", "Epsilon", "Gamma", "AlphaBeta", "ZPlus", "ZBox", "Flat", "WSquare", "Norm", "stabilize"]


def stabilize(z, eps):
    """``z + eps * sign(z)`` with ``sign(0) = +1`` (zennit's stabilizer)."""
    return z + np.where(z >= 0, eps, -eps).astype(z.dtype, copy=False)


def _divide(r, z, eps):
    """``r / stabilize(z, eps)``, zero where the stabilized denominator is zero."""
    d = stabilize(z, eps)
    return np.divide(r, d, out=np.zeros_like(r), where=d != 0)


def _check_number(rule, name, value, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value < minimum:
        raise ValueError(f"{rule}: expected {name} to be a finite number >= {minimum}, got {value!r}")
    return float(value)


def _zero_params(rule, zero_params):
    names = () if zero_params is None else (zero_params,) if isinstance(zero_params, str) else tuple(zero_params)
    unknown = [n for n in names if n not in ("kernel", "bias")]
    if unknown:
        raise ValueError(f"{rule}: zero_params names parameters 'kernel' and/or 'bias', got {unknown}")
    return frozenset(names)


# parameter modifiers: (name, array) -> array
def _same(name, p): return p
def _pos(name, p): return np.maximum(p, 0)
def _neg(name, p): return np.minimum(p, 0)
def _ones(name, p): return np.ones_like(p)
def _square(name, p): return p * p


def _gamma(gamma, clamp):
    return lambda name, p: p + gamma * clamp(name, p)


# input modifiers: array -> array
def _xpos(x): return np.maximum(x, 0)
def _xneg(x): return np.minimum(x, 0)


class Rule:
    """Base of the rules.  Subclasses give ``variants`` (input and parameter modifiers, and which
    variants drop the bias), ``cotangents(R, outputs)`` and ``reduce(inputs, grads)``."""

    stabilizer = 1e-6
    zero_params = frozenset()

    def variants(self, xs):
        """``[(modified inputs, parameter modifier, drop the bias)]`` for the inputs ``xs``."""
        raise NotImplementedError

    def cotangents(self, relevance, outputs):
        raise NotImplementedError

    def reduce(self, inputs, grads):
        raise NotImplementedError

    def relevance(self, fn, xs, params, relevance):
        """The relevance of each input in ``xs`` of ``z = fn(xs, params)`` given ``relevance`` of ``z``."""
        taped = []
        for inputs, modify, drop_bias in self.variants(xs):
            if drop_bias and not any(a.any() for a in inputs):
                taped.append((inputs, None, None))  # z = 0 and x * g = 0: nothing to compute (x- after a ReLU)
                continue
            mod = {}
            for name, p in params.items():
                if p is None:
                    mod[name] = None
                elif name in self.zero_params or (drop_bias and name == "bias"):
                    mod[name] = np.zeros_like(p)
                else:
                    mod[name] = modify(name, p)
            with enable_grad():
                ts = [Tensor(a, requires_grad=True) for a in inputs]
                taped.append((inputs, ts, fn(ts, mod)))
        zero = np.zeros_like(next(z.data for _, _, z in taped if z is not None))
        cots = self.cotangents(relevance, [zero if z is None else z.data for _, _, z in taped])
        grads = []
        for (inputs, ts, z), cot in zip(taped, cots):
            if cot is None or z is None:
                grads.append(None if cot is None else [np.zeros_like(a) for a in inputs])
                continue
            z.backward(cot)
            grads.append([t.grad if t.grad is not None else np.zeros_like(t.data) for t in ts])
        return self.reduce([inputs for inputs, _, _ in taped], grads)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _xg(inputs, grads):
    """``[x * g]`` per input of one variant."""
    return [x * g for x, g in zip(inputs, grads)]


class Epsilon(Rule):
    """``R_x = x * J^T (R / stabilize(z, epsilon))``; ``epsilon=0`` is LRP-0."""

    def __init__(self, epsilon=1e-6, zero_params=None):
        self.epsilon = self.stabilizer = _check_number("Epsilon", "epsilon", epsilon)
        self.zero_params = _zero_params("Epsilon", zero_params)

    def variants(self, xs):
        return [(xs, _same, False)]

    def cotangents(self, relevance, outputs):
        return [_divide(relevance, outputs[0], self.epsilon)]

    def reduce(self, inputs, grads):
        return _xg(inputs[0], grads[0])


class Norm(Epsilon):
    """The Epsilon rule for maps without parameters (pooling, residual sums): each input gets
    relevance in proportion to its contribution."""

    def __init__(self, stabilizer=1e-6):
        super().__init__(stabilizer)


class Gamma(Rule):
    """Generalised gamma rule: positive contributions to positive outputs (and negative ones to
    negative outputs) weighted ``1 + gamma``, as zennit's ``Gamma``."""

    def __init__(self, gamma=0.25, stabilizer=1e-6, zero_params=None):
        self.gamma = _check_number("Gamma", "gamma", gamma)
        self.stabilizer = _check_number("Gamma", "stabilizer", stabilizer)
        self.zero_params = _zero_params("Gamma", zero_params)

    def variants(self, xs):
        pos, neg = [_xpos(x) for x in xs], [_xneg(x) for x in xs]
        up, down = _gamma(self.gamma, _pos), _gamma(self.gamma, _neg)
        return [(pos, up, False), (neg, down, True),   # the positive part of z
                (pos, down, False), (neg, up, True),   # the negative part of z
                (xs, _same, False)]                    # the sign of z

    def cotangents(self, relevance, outputs):
        z_pos, z_neg, z = outputs[0] + outputs[1], outputs[2] + outputs[3], outputs[4]
        r_pos = _divide(relevance * (z > 0), z_pos, self.stabilizer)
        r_neg = _divide(relevance * (z < 0), z_neg, self.stabilizer)
        return [r_pos, r_pos, r_neg, r_neg, None]

    def reduce(self, inputs, grads):
        parts = [_xg(x, g) for x, g in zip(inputs[:4], grads[:4])]
        return [sum(p[i] for p in parts) for i in range(len(inputs[0]))]


class AlphaBeta(Rule):
    """``alpha`` times the positive and ``beta`` times the negative contributions, each normalised
    by its own total; ``alpha - beta = 1`` conserves the relevance of each output that has
    contributions of both signs (one without negative ones passes on ``alpha`` times its relevance)."""

    def __init__(self, alpha=2.0, beta=1.0, stabilizer=1e-6, zero_params=None):
        self.alpha = _check_number("AlphaBeta", "alpha", alpha)
        self.beta = _check_number("AlphaBeta", "beta", beta)
        if self.alpha - self.beta != 1:
            raise ValueError(f"AlphaBeta: alpha - beta must be 1, got alpha={alpha}, beta={beta}")
        self.stabilizer = _check_number("AlphaBeta", "stabilizer", stabilizer)
        self.zero_params = _zero_params("AlphaBeta", zero_params)

    def variants(self, xs):
        pos, neg = [_xpos(x) for x in xs], [_xneg(x) for x in xs]
        return [(pos, _pos, False), (neg, _neg, True), (pos, _neg, False), (neg, _pos, True)]

    def cotangents(self, relevance, outputs):
        r_pos = _divide(relevance, outputs[0] + outputs[1], self.stabilizer)
        r_neg = _divide(relevance, outputs[2] + outputs[3], self.stabilizer)
        return [r_pos, r_pos, r_neg, r_neg]

    def reduce(self, inputs, grads):
        a, b, c, d = (_xg(x, g) for x, g in zip(inputs, grads))
        return [self.alpha * (a[i] + b[i]) - self.beta * (c[i] + d[i]) for i in range(len(a))]


class ZPlus(Rule):
    """Only positive contributions (``x+ w+`` and ``x- w-``) share the relevance (alpha=1, beta=0)."""

    def __init__(self, stabilizer=1e-6, zero_params=None):
        self.stabilizer = _check_number("ZPlus", "stabilizer", stabilizer)
        self.zero_params = _zero_params("ZPlus", zero_params)

    def variants(self, xs):
        return [([_xpos(x) for x in xs], _pos, False), ([_xneg(x) for x in xs], _neg, True)]

    def cotangents(self, relevance, outputs):
        r = _divide(relevance, outputs[0] + outputs[1], self.stabilizer)
        return [r, r]

    def reduce(self, inputs, grads):
        a, b = (_xg(x, g) for x, g in zip(inputs, grads))
        return [p + q for p, q in zip(a, b)]


class ZBox(Rule):
    """For inputs bounded by ``low <= x <= high`` (e.g. pixels): ``z = x w - low w+ - high w-``.
    ``low`` and ``high`` are numbers or arrays broadcastable to the input."""

    def __init__(self, low, high, stabilizer=1e-6, zero_params=None):
        try:
            self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"ZBox: expected numbers or arrays for low and high, got {low!r} and {high!r}") from None
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError("ZBox: low and high must be finite")
        self.stabilizer = _check_number("ZBox", "stabilizer", stabilizer)
        self.zero_params = _zero_params("ZBox", zero_params)

    def _bound(self, bound, x):
        try:
            return np.ascontiguousarray(np.broadcast_to(bound, x.shape), dtype=x.dtype)
        except ValueError:
            raise ValueError(f"ZBox: low/high of shape {bound.shape} do not broadcast to the input of the "
                             f"first layer, shape {x.shape}") from None

    def variants(self, xs):
        return [(xs, _same, False), ([self._bound(self.low, x) for x in xs], _pos, False),
                ([self._bound(self.high, x) for x in xs], _neg, False)]

    def cotangents(self, relevance, outputs):
        r = _divide(relevance, outputs[0] - outputs[1] - outputs[2], self.stabilizer)
        return [r, r, r]

    def reduce(self, inputs, grads):
        a, b, c = (_xg(x, g) for x, g in zip(inputs, grads))
        return [p - q - s for p, q, s in zip(a, b, c)]


class Flat(Rule):
    """Relevance spread evenly over each output's receptive field (all weights one, no bias)."""

    def __init__(self, stabilizer=1e-6, zero_params=None):
        self.stabilizer = _check_number("Flat", "stabilizer", stabilizer)
        self.zero_params = _zero_params("Flat", zero_params) | {"bias"}

    def variants(self, xs):
        return [([np.ones_like(x) for x in xs], _ones, True)]

    def cotangents(self, relevance, outputs):
        return [_divide(relevance, outputs[0], self.stabilizer)]

    def reduce(self, inputs, grads):
        return list(grads[0])


class WSquare(Rule):
    """Relevance in proportion to the squared weights, whatever the input (the bias squared too,
    as zennit, unless ``zero_params='bias'``)."""

    def __init__(self, stabilizer=1e-6, zero_params=None):
        self.stabilizer = _check_number("WSquare", "stabilizer", stabilizer)
        self.zero_params = _zero_params("WSquare", zero_params)

    def variants(self, xs):
        return [([np.ones_like(x) for x in xs], _square, False)]

    def cotangents(self, relevance, outputs):
        return [_divide(relevance, outputs[0], self.stabilizer)]

    def reduce(self, inputs, grads):
        return list(grads[0])
