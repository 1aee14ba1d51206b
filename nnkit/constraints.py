"""Weight constraints (Keras 3 names, defaults and formulas), applied after each optimizer update.

A constraint maps a weight array to its projection (``__call__(w) -> array``).
Layers attach one to a weight (``kernel_constraint=...``); the optimizer
looks it up with ``attached(weight)`` after updating the weight and writes the
projection back in place.
"""
import weakref

import numpy as np

from nnkit import configurable
from nnkit.configurable import Configurable

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "get", "serialize", "attach", "attached"]

EPSILON = 1e-7  # Keras's backend.epsilon() in the norm denominators


class Constraint(Configurable):
    """Base class: ``__call__(w)`` returns the projected array (the identity here)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}


def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescale each slice along ``axis`` whose L2 norm exceeds ``max_value`` down to it."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (np.clip(norms, 0, self.max_value) / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Zero the negative entries."""

    def __call__(self, w):
        return np.maximum(w, 0)


class UnitNorm(Constraint):
    """Each slice along ``axis`` divided by its L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each slice's norm ``rate`` of the way into ``[min_value, max_value]``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


_CLASSES = {c.__name__: c for c in (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
_ALIASES = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm}


def get(identifier):
    """A constraint (or ``None``) from ``None``, a name, a class, a ``serialize`` dict, an instance or a callable."""
    return configurable.resolve("constraint", Constraint, _CLASSES, _ALIASES, identifier)


def serialize(constraint):
    """``{"class_name", "config"}`` for a ``Constraint`` (``None`` stays ``None``); a plain function by name."""
    return configurable.serialize("constraint", Constraint, constraint)


# weight Tensor -> its constraint; by identity (Tensor's == is elementwise), dropped with the weight
_ATTACHED = {}


def attach(weight, constraint):
    """Make ``constraint`` the projection applied to ``weight`` after each optimizer update."""
    key = id(weight)
    _ATTACHED[key] = (weakref.ref(weight, lambda _: _ATTACHED.pop(key, None)), constraint)


def attached(weight):
    """The constraint attached to ``weight``, or ``None``."""
    entry = _ATTACHED.get(id(weight))
    return entry[1] if entry is not None and entry[0]() is weight else None
