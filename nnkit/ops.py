"""Differentiable elementwise, reduction and shape ops on Tensors.

Each op is a small ``Function`` with its forward and backward side by side.
Activations are written in their numerically stable forms (stable sigmoid
and softplus, log-sum-exp with max subtraction), so a custom loss written
with these ops trains without extra code.
"""
import numpy as np
from scipy import special

from nnkit import backend
from nnkit.tensor import FLOAT_DTYPES, Function, Tensor, as_tensor, unbroadcast

__all__ = [
    "add", "subtract", "multiply", "divide", "power", "negative", "matmul",
    "exp", "log", "sqrt", "abs", "square", "clip", "where", "maximum", "minimum",
    "relu", "leaky_relu", "relu6", "elu", "gelu", "sigmoid", "tanh", "softplus",
    "softmax", "log_softmax", "logsumexp",
    "sum", "mean", "max", "min", "reshape", "transpose", "getitem", "concatenate", "stack",
    "cast", "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
]


# -- arithmetic -------------------------------------------------------------
class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Subtract(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Multiply(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        ga = unbroadcast(g * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Divide(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        ga = unbroadcast(g / self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * self.a / (self.b * self.b), self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Power(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = np.power(a, b)
        return self.out

    def backward(self, g):
        a, b = self.a, self.b
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g * b * np.power(a, b - 1), a.shape)
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
            gb = unbroadcast(g * self.out * log_a, b.shape)
        return ga, gb


class Negative(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class MatMul(Function):
    """``np.matmul`` semantics.  Products of float matrices run on the kernels' thread pool: 2-D, a stack
    times one matrix (folded into one 2-D product) and two stacks with the same leading axes (one batched
    product); other broadcasts and integer dtypes run in NumPy."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape}")
        self.a, self.b = a, b
        self.route = _matmul_route(a, b)
        if self.route is None:
            return a @ b
        self.kernels = backend.current()
        if self.route == "2d":
            return self.kernels.matmul(a, b)
        if self.route == "folded":
            return self.kernels.matmul(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + b.shape[-1:])
        return self.kernels.batched_matmul(_stack(a), _stack(b)).reshape(a.shape[:-1] + b.shape[-1:])

    def backward(self, g):
        a, b, route = self.a, self.b, self.route
        ga = gb = None
        if route == "2d":
            ga = self.kernels.matmul(g, b, trans_b=True) if self.needs_input_grad[0] else None
            gb = self.kernels.matmul(a, g, trans_a=True) if self.needs_input_grad[1] else None
            return ga, gb
        if route == "folded":
            g2 = g.reshape(-1, g.shape[-1])
            if self.needs_input_grad[0]:
                ga = self.kernels.matmul(g2, b, trans_b=True).reshape(a.shape)
            if self.needs_input_grad[1]:
                gb = self.kernels.matmul(a.reshape(-1, a.shape[-1]), g2, trans_a=True)
            return ga, gb
        if route == "batched":
            if self.needs_input_grad[0]:
                ga = self.kernels.batched_matmul(_stack(g), _stack(b), trans_b=True).reshape(a.shape)
            if self.needs_input_grad[1]:
                gb = self.kernels.batched_matmul(_stack(a), _stack(g), trans_a=True).reshape(b.shape)
            return ga, gb
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g.reshape(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        if self.needs_input_grad[0]:
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


def _matmul_route(a, b):
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64) or b.ndim < 2 or a.ndim < 2:
        return None
    if b.ndim == 2:
        return "2d" if a.ndim == 2 else "folded"
    if a.ndim == b.ndim and a.shape[:-2] == b.shape[:-2]:
        return "batched"
    return None


def _stack(x):
    """A (..., M, N) array as a (G, M, N) stack."""
    return x.reshape((-1,) + x.shape[-2:])


def add(a, b): return Add.apply(a, b)
def subtract(a, b): return Subtract.apply(a, b)
def multiply(a, b): return Multiply.apply(a, b)
def divide(a, b): return Divide.apply(a, b)
def power(a, b): return Power.apply(a, b)
def negative(a): return Negative.apply(a)
def matmul(a, b): return MatMul.apply(a, b)


# -- unary math -------------------------------------------------------------
class _Unary(Function):
    """A unary op whose derivative is a function of input and output."""

    def forward(self, x, **params):
        self.x, self.params = x, params
        self.y = self.f(x, **params)
        return self.y

    def backward(self, g):
        return (g * self.df(self.x, self.y, **self.params),)


class Exp(_Unary):
    f = staticmethod(np.exp)
    df = staticmethod(lambda x, y: y)


class Log(_Unary):
    f = staticmethod(np.log)
    df = staticmethod(lambda x, y: 1 / x)


class Sqrt(_Unary):
    f = staticmethod(np.sqrt)
    df = staticmethod(lambda x, y: 0.5 / y)


class Abs(_Unary):
    f = staticmethod(np.abs)
    df = staticmethod(lambda x, y: np.sign(x))


class Square(_Unary):
    f = staticmethod(np.square)
    df = staticmethod(lambda x, y: 2 * x)


class Clip(_Unary):
    @staticmethod
    def f(x, lo, hi):
        return np.clip(x, lo, hi)

    @staticmethod
    def df(x, y, lo, hi):
        inside = np.ones_like(x, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        return inside.astype(x.dtype)


class Relu(Function):
    """``max(x, 0)`` in one pass on the backend's kernel; NaN passes through."""

    def forward(self, x):
        if x.dtype not in FLOAT_DTYPES:  # integer tensors never need a gradient
            return np.maximum(x, 0)
        self.kernels = backend.current()
        self.y = self.kernels.bias_relu(x.reshape(x.shape or (1,))).reshape(x.shape)  # a 0-d x has no channel axis
        return self.y

    def backward(self, g):
        return (self.kernels.relu_backward(g.reshape(-1), self.y.reshape(-1)).reshape(g.shape),)


class LeakyRelu(_Unary):
    @staticmethod
    def f(x, alpha):
        return np.where(x > 0, x, x * x.dtype.type(alpha))

    @staticmethod
    def df(x, y, alpha):
        return np.where(x > 0, 1, alpha).astype(x.dtype)


class Relu6(_Unary):
    f = staticmethod(lambda x: np.clip(x, 0, 6))
    df = staticmethod(lambda x, y: ((x > 0) & (x < 6)).astype(x.dtype))


class Elu(_Unary):
    @staticmethod
    def f(x, alpha):
        return np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))

    @staticmethod
    def df(x, y, alpha):
        return np.where(x > 0, 1, y + alpha).astype(x.dtype)


class Gelu(_Unary):
    """Exact GELU, x * Phi(x) (Keras ``approximate=False``)."""

    @staticmethod
    def f(x):
        return x * special.ndtr(x)

    @staticmethod
    def df(x, y):
        pdf = np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
        return (special.ndtr(x) + x * pdf).astype(x.dtype)


class Sigmoid(_Unary):
    f = staticmethod(special.expit)  # stable for large |x|
    df = staticmethod(lambda x, y: y * (1 - y))


class Tanh(_Unary):
    f = staticmethod(np.tanh)
    df = staticmethod(lambda x, y: 1 - y * y)


class Softplus(_Unary):
    f = staticmethod(lambda x: np.logaddexp(x.dtype.type(0), x))  # log(1 + e^x) without overflow
    df = staticmethod(lambda x, y: special.expit(x))


def exp(x): return Exp.apply(x)
def log(x): return Log.apply(x)
def sqrt(x): return Sqrt.apply(x)
def abs(x): return Abs.apply(x)
def square(x): return Square.apply(x)
def relu(x): return Relu.apply(x)
def relu6(x): return Relu6.apply(x)
def gelu(x): return Gelu.apply(x)
def sigmoid(x): return Sigmoid.apply(x)
def tanh(x): return Tanh.apply(x)
def softplus(x): return Softplus.apply(x)


def clip(x, min=None, max=None):
    """Limit values to [min, max]; the gradient is 1 inside and 0 outside."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip.apply(x, lo=min, hi=max)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (Keras's default slope, 0.2)."""
    return LeakyRelu.apply(x, alpha=negative_slope)


def elu(x, alpha=1.0):
    return Elu.apply(x, alpha=alpha)


# -- selection --------------------------------------------------------------
class Where(Function):
    def forward(self, a, b, condition):
        self.condition, self.shapes = condition, (a.shape, b.shape)
        return np.where(condition, a, b)

    def backward(self, g):
        zero = np.zeros((), g.dtype)
        return (unbroadcast(np.where(self.condition, g, zero), self.shapes[0]),
                unbroadcast(np.where(self.condition, zero, g), self.shapes[1]))


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b``; gradients flow to the chosen side."""
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    return Where.apply(a, b, condition=condition)


def maximum(a, b):
    """Elementwise maximum; ties send the gradient to ``a``."""
    a, b = _pair(a, b)
    return where(a.data >= b.data, a, b)


def minimum(a, b):
    """Elementwise minimum; ties send the gradient to ``a``."""
    a, b = _pair(a, b)
    return where(a.data <= b.data, a, b)


def _pair(a, b):
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    return as_tensor(a, like), as_tensor(b, like)


# -- softmax family -----------------------------------------------------------
class Softmax(Function):
    def forward(self, x, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        self.y, self.axis = e / e.sum(axis=axis, keepdims=True), axis
        return self.y

    def backward(self, g):
        y = self.y
        return (y * (g - (g * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        self.y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        return self.y

    def backward(self, g):
        return (g - np.exp(self.y) * g.sum(axis=self.axis, keepdims=True),)


class LogSumExp(Function):
    def forward(self, x, axis, keepdims):
        m = x.max(axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
        self.x, self.out, self.axis = x, out, axis
        return out if keepdims else np.squeeze(out, axis=axis)

    def backward(self, g):
        if g.ndim != self.out.ndim:
            g = np.expand_dims(g, self.axis) if self.axis is not None else g.reshape(self.out.shape)
        return (g * np.exp(self.x - self.out),)


def softmax(x, axis=-1):
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(x, axis=axis)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) computed without overflow."""
    return LogSumExp.apply(x, axis=_axis(axis), keepdims=keepdims)


# -- reductions ---------------------------------------------------------------
def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _expand_reduced(g, shape, axis, keepdims):
    """Broadcastable view of a reduced gradient against the input ``shape``."""
    if axis is None:
        return g.reshape((1,) * len(shape))
    if not keepdims:
        axes = axis if isinstance(axis, tuple) else (axis,)
        g = np.expand_dims(g, tuple(a % len(shape) for a in axes))
    return g


class Sum(Function):
    def forward(self, x, axis, keepdims):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return np.asarray(x.sum(axis=axis, keepdims=keepdims))

    def backward(self, g):
        return (np.broadcast_to(_expand_reduced(g, self.shape, self.axis, self.keepdims), self.shape),)


class Mean(Function):
    def forward(self, x, axis, keepdims):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        out = np.asarray(x.mean(axis=axis, keepdims=keepdims))
        self.count = x.size // out.size if out.size else 1
        return out

    def backward(self, g):
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims) / self.count
        return (np.broadcast_to(g, self.shape).astype(g.dtype, copy=False),)


class _Extremum(Function):
    """max/min: the gradient is shared equally among tied extrema."""

    def forward(self, x, axis, keepdims):
        out = np.asarray(self.reduce(x, axis=axis, keepdims=True))
        mask = x == out
        self.weights = mask / mask.sum(axis=axis, keepdims=True)
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return out if keepdims else np.asarray(self.reduce(x, axis=axis, keepdims=False))

    def backward(self, g):
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims)
        return ((g * self.weights).astype(g.dtype, copy=False),)


class Max(_Extremum):
    reduce = staticmethod(np.max)


class Min(_Extremum):
    reduce = staticmethod(np.min)


def sum(x, axis=None, keepdims=False): return Sum.apply(x, axis=_axis(axis), keepdims=keepdims)
def mean(x, axis=None, keepdims=False): return Mean.apply(x, axis=_axis(axis), keepdims=keepdims)
def max(x, axis=None, keepdims=False): return Max.apply(x, axis=_axis(axis), keepdims=keepdims)
def min(x, axis=None, keepdims=False): return Min.apply(x, axis=_axis(axis), keepdims=keepdims)


# -- shape ----------------------------------------------------------------------
class Reshape(Function):
    def forward(self, x, shape):
        self.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape {x.shape} ({x.size} elements) into {shape}") from None

    def backward(self, g):
        return (g.reshape(self.shape),)


class Transpose(Function):
    def forward(self, x, axes):
        self.axes = axes
        return np.transpose(x, axes)

    def backward(self, g):
        return (np.transpose(g, None if self.axes is None else np.argsort(self.axes)),)


class GetItem(Function):
    def forward(self, x, index):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        return x[index]

    def backward(self, g):
        dx = np.zeros(self.shape, self.dtype)
        np.add.at(dx, self.index, g)  # scatter-add: repeated indices accumulate
        return (dx,)


class Concatenate(Function):
    def forward(self, *xs, axis):
        self.axis = axis
        self.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        try:
            return np.concatenate(xs, axis=axis)
        except ValueError as e:
            raise ValueError(f"concatenate: shapes {[x.shape for x in xs]} disagree off axis {axis}: {e}") from None

    def backward(self, g):
        return tuple(np.split(g, self.splits, axis=self.axis))


class Stack(Function):
    def forward(self, *xs, axis):
        self.axis = axis
        try:
            return np.stack(xs, axis=axis)
        except ValueError:
            raise ValueError(f"stack: all inputs must have one shape, got {[x.shape for x in xs]}") from None

    def backward(self, g):
        return tuple(np.moveaxis(g, self.axis, 0))


class Cast(Function):
    def forward(self, x, dtype):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return (g.astype(self.dtype),)


def reshape(x, shape): return Reshape.apply(x, shape=tuple(shape))
def transpose(x, axes=None): return Transpose.apply(x, axes=None if axes is None else tuple(axes))
def cast(x, dtype): return Cast.apply(x, dtype=np.dtype(dtype))


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem.apply(x, index=index)


def concatenate(tensors, axis=0):
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    return Stack.apply(*tensors, axis=axis)


# -- comparisons (no gradient) --------------------------------------------------
class _Compare(Function):
    differentiable = False

    def forward(self, a, b):
        return self.compare(a, b)


def _comparison(name, ufunc):
    cls = type(name, (_Compare,), {"compare": staticmethod(ufunc)})
    return lambda a, b: cls.apply(a, b)


less = _comparison("Less", np.less)
less_equal = _comparison("LessEqual", np.less_equal)
greater = _comparison("Greater", np.greater)
greater_equal = _comparison("GreaterEqual", np.greater_equal)
equal = _comparison("Equal", np.equal)
not_equal = _comparison("NotEqual", np.not_equal)
