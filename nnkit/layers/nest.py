"""Layer inputs and outputs are one tensor or a list (or dict) of them."""
import numpy as np

from nnkit.layers.symbolic import SymbolicTensor
from nnkit.tensor import Tensor

_LEAVES = (Tensor, SymbolicTensor, np.ndarray)


def is_structure(value):
    """A list/tuple/dict of tensors (as opposed to one tensor or nested numbers)."""
    if isinstance(value, dict):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, _LEAVES) or is_structure(v) for v in value)
    return False


def flatten(value):
    """The leaves of ``value`` in order (dicts by insertion order)."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in flatten(v)]
    if is_structure(value):
        return [leaf for v in value for leaf in flatten(v)]
    return [value]


def map_structure(fn, value):
    """``value`` with ``fn`` applied to every leaf, same nesting."""
    if isinstance(value, dict):
        return {k: map_structure(fn, v) for k, v in value.items()}
    if is_structure(value):
        return [map_structure(fn, v) for v in value]
    return fn(value)


def any_symbolic(value):
    return any(isinstance(leaf, SymbolicTensor) for leaf in flatten(value))
