"""Unique, meaningful layer names: ``conv2d``, ``conv2d_1``, ``conv2d_2``, ...

Auto-names come from the class name in snake case, counted per session
(as Keras does).  A name chosen by the user is reserved, so an auto-name never
takes it.  ``clear_session()`` restarts the counting, e.g. between tests.
"""
import re
import threading

_lock = threading.Lock()
_taken = set()


def to_snake_case(name):
    """``Conv2D`` -> ``conv2d``, ``BatchNormalization`` -> ``batch_normalization``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
    return name.lstrip("_") or "layer"


def unique_name(prefix):
    """``prefix`` itself if free, else ``prefix_1``, ``prefix_2``, ...; reserves it."""
    with _lock:
        name, i = prefix, 0
        while name in _taken:
            i += 1
            name = f"{prefix}_{i}"
        _taken.add(name)
        return name


def reserve(name):
    """Mark a user-chosen name as taken so that no auto-name repeats it."""
    with _lock:
        _taken.add(name)


def clear_session():
    """Forget every name handed out: the next ``Conv2D()`` is ``conv2d`` again."""
    with _lock:
        _taken.clear()
