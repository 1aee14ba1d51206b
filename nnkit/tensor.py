"""Tensor: an ndarray with reverse-mode automatic differentiation.

Every differentiable op is a ``Function`` subclass with a ``forward`` on
arrays and a ``backward`` that maps the output gradient to one gradient per
input.  ``Function.apply`` runs the forward and, when gradients are enabled
and some input requires them, records the op on the output so that
``Tensor.backward`` can walk the graph in reverse topological order.
"""
import contextlib
import numbers
import threading

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

class _GradMode(threading.local):
    grad_enabled = True  # a class default: a thread that never entered no_grad reads it with no lookup miss
    backward_rules = None  # {Function subclass: rule} while a backward_rules block is open
    grad_ready = None  # fn(leaf) while an on_grad_ready block is open


_state = _GradMode()


def is_grad_enabled():
    return _state.grad_enabled


class no_grad(contextlib.ContextDecorator):
    """Context manager and decorator that turns off graph recording."""

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.grad_enabled = False
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev
        return False


class enable_grad(no_grad):
    """Turn graph recording back on inside a ``no_grad`` block."""

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.grad_enabled = True
        return self


class backward_rules(contextlib.ContextDecorator):
    """Within the block, ``Tensor.backward`` uses replacement backward rules for chosen ops.

    ``rules`` maps an op class (a ``Function`` subclass such as ``nnkit.ops.Relu``
    or ``nnkit.functional.Conv2d``) to ``rule(ctx, grad) -> gradients``, one
    per input (``None`` where there is none), where ``ctx`` is the recorded op
    (its ``parents`` are the input Tensors; ``ctx.backward(grad)`` is the
    original rule).  Nothing in the model changes; blocks nest, the inner one
    winning for the ops it names.  This is what modified-gradient methods
    (layer-wise relevance propagation, guided backpropagation) are built on.
    """

    def __init__(self, rules):
        for op, rule in dict(rules).items():
            if not (isinstance(op, type) and issubclass(op, Function)) or not callable(rule):
                raise TypeError(f"backward_rules: expected {{Function subclass: callable}}, got {op!r}: {rule!r}")
        self.rules = dict(rules)

    def __enter__(self):
        self._prev = _state.backward_rules
        _state.backward_rules = {**(self._prev or {}), **self.rules}
        return self

    def __exit__(self, *exc):
        _state.backward_rules = self._prev
        return False


class on_grad_ready(contextlib.ContextDecorator):
    """Within the block, ``Tensor.backward`` calls ``fn(leaf)`` as soon as a leaf's ``.grad`` is final
    for that backward (every use of the leaf has passed its gradient back), while the rest of the graph is
    still to be walked.  Data-parallel training starts all-reducing gradients there
    (``nnkit.distributed``), so that communication overlaps the remaining backward.  ``fn`` must not
    change ``leaf.grad``'s shape or dtype.  Blocks do not nest: the inner one replaces the outer.
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"on_grad_ready: expected a callable fn(leaf), got {fn!r}")
        self.fn = fn

    def __enter__(self):
        self._prev = _state.grad_ready
        _state.grad_ready = self.fn
        return self

    def __exit__(self, *exc):
        _state.grad_ready = self._prev
        return False


def backward_rules_active():
    """Whether a ``backward_rules`` block is open (code that computes gradients without a Tensor graph, such as
    the training plans, must then leave it to ``Tensor.backward``)."""
    return bool(_state.backward_rules)


def grad_ready_hook():
    """The ``fn`` of the open ``on_grad_ready`` block, or None (for code that computes gradients without a
    Tensor graph, such as the training plans, to report them the same way)."""
    return _state.grad_ready


def _as_array(data, dtype):
    arr = np.asarray(data)
    if arr.dtype.kind in "cUSVO":
        arr = _real_numbers(arr)
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype == np.bool_ or (isinstance(data, (np.ndarray, np.generic)) and arr.dtype in FLOAT_DTYPES):
        return arr  # NumPy floats keep their precision; Python numbers and lists become float32
    return arr.astype(np.float32)


def _real_numbers(arr):
    """``arr`` if it holds real numbers (an object array of them passes); complex values (a cast would drop the
    imaginary part), text and other objects (None would become NaN) are refused with an error saying so."""
    if arr.dtype.kind == "c":
        raise TypeError(f"Tensor: expected real numbers, got complex values (dtype {arr.dtype}); nnkit has no "
                        f"complex tensors: pass x.real or abs(x) explicitly")
    if arr.dtype.kind == "O" and all(isinstance(v, numbers.Real) for v in arr.flat):
        return arr
    bad = next((v for v in arr.flat if not isinstance(v, numbers.Real)), None)
    raise TypeError(f"Tensor: expected numbers, got {'objects' if arr.dtype.kind == 'O' else 'text'} "
                    f"(dtype {arr.dtype}{', e.g. ' + repr(bad)[:40] if arr.size else ''})")


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Parameters
    ----------
    data : array_like
        Float32 and float64 NumPy arrays and scalars keep their dtype; Python
        numbers, lists and integer arrays become float32 unless ``dtype``
        says otherwise.
    requires_grad : bool
        Whether ``backward`` should compute ``.grad`` for this tensor.
    """

    # ``_keras_mask``: the boolean mask a layer attached (Keras 3's name; see ``get_keras_mask``); left unset, so
    # a tensor without one costs nothing
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "name", "_keras_mask", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Tensor: only float32/float64 tensors can require gradients, got {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None
        self.name = name

    # -- array-like views -------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def T(self):
        return self.transpose()

    def __len__(self):
        return len(self.data)

    def numpy(self):
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self):
        return self.data.item()

    def detach(self):
        """A tensor sharing this data, cut off from the graph."""
        return Tensor(self.data)

    def astype(self, dtype):
        return ops.cast(self, dtype)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{grad})"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        return bool(self.data)

    def zero_grad(self):
        self.grad = None

    # -- autograd ---------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires it.

        ``grad`` defaults to 1 for a single-element tensor.  The graph is freed
        afterwards unless ``retain_graph`` is true.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require gradients "
                               "(no input had requires_grad=True, or it was computed under no_grad)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implied only for a single-element tensor, "
                                   f"got shape {self.shape}; pass grad=")
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad has shape {grad.shape}, expected {self.shape}")

        grads = {id(self): grad}
        given = {id(grad)}  # arrays a leaf may not keep as its own .grad (shared or not ours)
        rules, ready = _state.backward_rules, _state.grad_ready
        order = _topological_order(self)
        uses = None if ready is None else _leaf_uses(order)  # counted down to report each leaf at its last use
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            ctx = node._ctx
            if ctx is None:  # a leaf
                _accumulate(node, g, given)
                if ready is not None:
                    ready(node)
                continue
            rule = rules.get(type(ctx)) if rules else None
            for parent, pg in zip(ctx.parents, ctx.backward(g) if rule is None else rule(ctx, g)):
                key = id(parent)
                if pg is not None and parent.requires_grad:
                    grads[key] = pg if key not in grads else grads[key] + pg
                if uses is not None and key in uses:
                    uses[key] -= 1
                    if not uses[key] and key in grads:  # its last use: the leaf's gradient is final now
                        _accumulate(parent, grads.pop(key), given)
                        ready(parent)
            if not retain_graph:
                node._ctx = None

    # -- operators (implemented in nnkit.ops) ----------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.subtract(self, other)
    def __rsub__(self, other): return ops.subtract(other, self)
    def __mul__(self, other): return ops.multiply(self, other)
    def __rmul__(self, other): return ops.multiply(other, self)
    def __truediv__(self, other): return ops.divide(self, other)
    def __rtruediv__(self, other): return ops.divide(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __pow__(self, other): return ops.power(self, other)
    def __rpow__(self, other): return ops.power(other, self)
    def __neg__(self): return ops.negative(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __lt__(self, other): return ops.less(self, other)
    def __le__(self, other): return ops.less_equal(self, other)
    def __gt__(self, other): return ops.greater(self, other)
    def __ge__(self, other): return ops.greater_equal(self, other)
    def __eq__(self, other): return ops.equal(self, other)
    def __ne__(self, other): return ops.not_equal(self, other)

    def reshape(self, *shape):
        return ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes):
        return ops.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None))

    def flatten(self):
        return ops.reshape(self, (-1,))

    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def relu(self): return ops.relu(self)
    def sigmoid(self): return ops.sigmoid(self)
    def tanh(self): return ops.tanh(self)


def _accumulate(leaf, g, given):
    """Add a finished gradient ``g`` into ``leaf.grad``."""
    if leaf.grad is not None:
        leaf.grad = leaf.grad + g
    elif id(g) in given or g.base is not None or not g.flags.writeable or g.dtype != leaf.dtype:
        leaf.grad = np.array(g, dtype=leaf.dtype)  # a private copy: in-place updates stay local
    else:
        leaf.grad = g  # a fresh array from a backward: no copy needed
    given.add(id(leaf.grad))


def _leaf_uses(order):
    """``{id(leaf): number of recorded ops that take it}`` for the leaves that require gradients."""
    uses = {}
    for node in order:
        if node._ctx is not None:
            for p in node._ctx.parents:
                if p._ctx is None and p.requires_grad:
                    uses[id(p)] = uses.get(id(p), 0) + 1
    return uses


def _topological_order(root):
    """Nodes reachable from ``root`` through recorded ops, parents first.

    Iterative, so graphs deeper than Python's recursion limit work.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))  # appended to the order after all its parents
        if node._ctx is not None:
            stack.extend((p, False) for p in node._ctx.parents if p.requires_grad and id(p) not in visited)
    return order


def get_keras_mask(x):
    """The boolean mask attached to ``x`` by a layer (``Embedding(mask_zero=True)``, ``Masking``...), or None.

    True marks a step to use, False one to skip (padding), as in Keras; the mask covers the leading axes of
    ``x`` (``(batch, steps)`` for a ``(batch, steps, features)`` sequence).
    """
    return getattr(x, "_keras_mask", None)


def set_keras_mask(x, mask):
    """Attach ``mask`` (array-like, made a boolean ndarray; None removes it) to the Tensor ``x``."""
    if mask is None:
        if getattr(x, "_keras_mask", None) is not None:
            x._keras_mask = None
        return
    x._keras_mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)


def as_tensor(value, like=None):
    """``value`` as a Tensor; Python numbers and non-float arrays take ``like``'s dtype."""
    if isinstance(value, Tensor):
        return value
    dtype = None
    if like is not None and like.dtype in FLOAT_DTYPES:
        arr = np.asarray(value)
        if arr.dtype not in FLOAT_DTYPES or arr.ndim == 0:
            dtype = like.dtype
    return Tensor(value, dtype=dtype)


class Function:
    """Base class of differentiable ops.

    Subclasses implement ``forward(self, *arrays, **params) -> array`` and
    ``backward(self, grad) -> tuple`` (one gradient or ``None`` per input),
    saving on ``self`` whatever the backward needs.
    """

    differentiable = True

    @classmethod
    def apply(cls, *inputs, **params):
        tensors = inputs
        if not all(type(t) is Tensor for t in inputs):  # the common case (all Tensors) skips this
            like = next((t for t in inputs if isinstance(t, Tensor)), None)
            tensors = tuple(as_tensor(t, like) for t in inputs)
        if len(tensors) > 1:
            _check_dtypes(cls.__name__, tensors)
        fn = cls()
        fn.needs_input_grad = needs = tuple(t.requires_grad for t in tensors)
        out = fn.forward(*[t.data for t in tensors], **params)
        record = cls.differentiable and True in needs and is_grad_enabled()
        result = Tensor.__new__(Tensor)
        result.data = out
        result.grad = None
        result.name = None
        result.requires_grad = record
        result._ctx = None
        if record:
            fn.parents = tensors
            result._ctx = fn
        return result

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def _check_dtypes(op, tensors):
    floats = {t.dtype for t in tensors if t.dtype in FLOAT_DTYPES}
    if len(floats) > 1:
        got = ", ".join(str(t.dtype) for t in tensors)
        raise TypeError(f"{op}: inputs must share one float dtype, got {got}; "
                        f"convert explicitly with .astype()")


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes along which an input of ``shape`` was broadcast."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


# Tensor's operators are implemented in nnkit.ops, which imports this module;
# importing it last (and using it only at call time) keeps the cycle harmless.
from nnkit import ops  # noqa: E402
