"""Nested data: one array, a list/tuple of arrays, or a dict of arrays (a model's several inputs or outputs).

A list or tuple is a structure only when it holds arrays (or structures);
a nested list of numbers is one array, as ``np.asarray`` reads it.  Each
leaf has a *path* for error messages: ``x``, ``x[1]``, ``x['meta']``.
"""
from nnkit.layers.nest import is_structure  # the one rule for what is a structure, shared with the layers

__all__ = ["is_structure", "leaves", "map_structure", "paths", "first_leaf", "batch_size", "unpack_x_y_sample_weight"]


def map_structure(fn, value):
    """``value`` with ``fn`` applied to every leaf (``None`` stays ``None``); lists stay lists, tuples tuples."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: map_structure(fn, v) for k, v in value.items()}
    if is_structure(value):
        return type(value)(map_structure(fn, v) for v in value)
    return fn(value)


def paths(value, root):
    """``[(path, leaf)]`` in order (dicts in insertion order)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in paths(v, f"{root}[{k!r}]")]
    if is_structure(value):
        return [p for i, v in enumerate(value) for p in paths(v, f"{root}[{i}]")]
    return [(root, value)]


def leaves(value):
    return [leaf for _, leaf in paths(value, "")]


def first_leaf(value):
    found = leaves(value)
    return found[0] if found else None


def batch_size(value):
    """The sample count of a batch: the length of its first leaf."""
    return len(first_leaf(value))


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``
    (Keras's ``keras.utils.unpack_x_y_sample_weight``); missing parts are ``None``."""
    if isinstance(data, list):
        data = tuple(data) if len(data) <= 3 and not is_structure(data) else data
    if not isinstance(data, tuple):
        return data, None, None
    if not 1 <= len(data) <= 3:
        raise ValueError(f"a batch must be x, (x, y) or (x, y, sample_weight), got a tuple of {len(data)}")
    return (tuple(data) + (None, None))[:3]
