"""Weight and activity regularizers (Keras 3 names, defaults and formulas).

A regularizer maps a weight (or a layer's output) Tensor to a scalar penalty
Tensor built with ``nnkit.ops``, so it is differentiable; layers collect the
penalties in ``layer.losses`` and training adds them to the loss (see
``Layer.losses``).  ``get`` accepts a name (``"l2"``), a class, a
``{"class_name", "config"}`` dict from ``serialize``, an instance or a callable.
"""
import numpy as np

from nnkit import configurable, ops
from nnkit.configurable import Configurable
from nnkit.tensor import Tensor, as_tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "get", "serialize"]


def _non_negative(cls, name, value):
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{cls}: {name} must be a non-negative number, got {value!r}")
    return value


class Regularizer(Configurable):
    """Base class: ``__call__(x) -> scalar Tensor``."""

    def __call__(self, x):
        raise NotImplementedError

    def get_config(self):
        return {}


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x^2)``."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _non_negative("L1L2", "l1", l1), _non_negative("L1L2", "l2", l2)

    def __call__(self, x):
        x = as_tensor(x)
        penalty = ops.sum(x * 0.0)  # a zero of x's dtype, in the graph
        if self.l1:
            penalty = penalty + self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * ops.sum(ops.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)`` (default 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=_non_negative("L1", "l1", l1))

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x^2)`` (default 0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=_non_negative("L2", "l2", l2))

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode='rows'``) or columns of a 2-D weight towards orthogonality:
    ``factor * 0.5 * sum(|offdiag(U U^T)|) / (n (n - 1) / 2)`` with ``U`` the L2-normalised rows
    (or columns) and ``n`` their number (Keras 3)."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _non_negative("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', got {mode!r}")
        self.mode = mode

    def __call__(self, x):
        x = as_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer: expected a 2-D weight, got shape {x.shape}")
        if self.mode == "columns":
            x = ops.transpose(x, (1, 0))
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"OrthogonalRegularizer: needs at least 2 {self.mode}, got shape {x.shape}")
        eps2 = 1e-7 ** 2  # Keras normalises with x * min(rsqrt(sum x^2), 1 / 1e-7)
        unit = x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=1, keepdims=True), eps2))
        product = ops.matmul(unit, ops.transpose(unit, (1, 0)))
        off_diagonal = product * Tensor((1 - np.eye(n)).astype(x.dtype))
        return self.factor * 0.5 * ops.sum(ops.abs(off_diagonal)) / (n * (n - 1) / 2)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


_CLASSES = {c.__name__: c for c in (L1, L2, L1L2, OrthogonalRegularizer)}
_ALIASES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer}


def get(identifier):
    """A regularizer (or ``None``) from ``None``, a name, a class, a ``serialize`` dict, an instance or a callable."""
    return configurable.resolve("regularizer", Regularizer, _CLASSES, _ALIASES, identifier)


def serialize(regularizer):
    """``{"class_name", "config"}`` for a ``Regularizer`` (``None`` stays ``None``); a plain function by name."""
    return configurable.serialize("regularizer", Regularizer, regularizer)
