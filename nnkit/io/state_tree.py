"""Nested state (dicts, lists, scalars, arrays) as JSON plus named tensors.

Optimizer, RNG and training state are trees of plain values and NumPy
arrays.  ``pack`` turns a tree into JSON-able data in which each array is a
reference ``{"__tensor__": name}`` to an entry of a tensor dict (stored in the
same safetensors file); ``unpack`` reverses it.  NumPy scalars are kept as
0-d tensors so their dtype survives (exact resume), dicts with non-string keys
become ``{"__items__": [[key, value], ...]}``, and tuples come back as lists.
"""
import numbers

import numpy as np

from nnkit.io.errors import FileFormatError

TENSOR = "__tensor__"
ITEMS = "__items__"
_SPECIAL = (TENSOR, ITEMS)


def pack(tree, prefix, tensors):
    """JSON-able form of ``tree``; its arrays are added to ``tensors`` under names starting with ``prefix``."""
    return _pack(tree, prefix, tensors)


def _pack(node, name, tensors):
    if isinstance(node, dict):
        if all(isinstance(k, str) for k in node):
            if any(k in _SPECIAL for k in node):
                raise ValueError(f"state_tree: the keys {_SPECIAL} are reserved (at {name!r})")
            return {k: _pack(v, f"{name}/{k}", tensors) for k, v in node.items()}
        bad = [k for k in node if not isinstance(k, (str, numbers.Number, type(None))) or isinstance(k, np.generic)]
        if bad:
            raise TypeError(f"state_tree: cannot save dict key {bad[0]!r} of type {type(bad[0]).__name__} at {name!r}")
        return {ITEMS: [[k, _pack(v, f"{name}/{k}", tensors)] for k, v in node.items()]}
    if isinstance(node, (list, tuple)):
        return [_pack(v, f"{name}/{i}", tensors) for i, v in enumerate(node)]
    if isinstance(node, (np.ndarray, np.generic)):
        key = name
        while key in tensors:
            key += "'"
        tensors[key] = np.asarray(node)
        return {TENSOR: key, "scalar": True} if isinstance(node, np.generic) else {TENSOR: key}
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if hasattr(node, "numpy") and callable(node.numpy):  # an nnkit.Tensor
        return _pack(node.numpy(), name, tensors)
    raise TypeError(f"state_tree: cannot save a {type(node).__name__} at {name!r} "
                    "(only dicts, lists, numbers, strings, None and arrays)")


def unpack(data, tensors, source=None):
    """Rebuild the tree ``pack`` described; a missing or malformed reference is a ``FileFormatError``."""
    if isinstance(data, list):
        return [unpack(v, tensors, source) for v in data]
    if not isinstance(data, dict):
        return data
    if TENSOR in data:
        key = data[TENSOR]
        if not isinstance(key, str) or key not in tensors or set(data) - {TENSOR, "scalar"}:
            raise FileFormatError(source, f"state refers to tensor {key!r}, which the file does not hold")
        array = tensors[key]
        if data.get("scalar"):
            if array.ndim != 0:
                raise FileFormatError(source, f"state tensor {key!r} should be a scalar, has shape {array.shape}")
            return array[()]
        return array
    if ITEMS in data:
        items = data[ITEMS]
        if set(data) != {ITEMS} or not isinstance(items, list) or not all(
                isinstance(p, list) and len(p) == 2 and not isinstance(p[0], (list, dict)) for p in items):
            raise FileFormatError(source, "malformed __items__ entry in saved state")
        return {k: unpack(v, tensors, source) for k, v in items}
    return {k: unpack(v, tensors, source) for k, v in data.items()}
