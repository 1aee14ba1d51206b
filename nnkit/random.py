"""The one random generator behind initializers, shuffling and dropout.

``set_seed(seed)`` makes a whole run reproducible.  ``get_state`` and
``set_state`` export and restore it (plain JSON-able data) for checkpoints.
"""
import numpy as np

_rng = np.random.default_rng()


def set_seed(seed):
    """Reseed nnkit's generator (and NumPy's legacy global one, for user code)."""
    global _rng
    _rng = np.random.default_rng(seed)
    np.random.seed(seed % 2**32)


def get_rng():
    """The generator nnkit draws from."""
    return _rng


def get_state():
    return _rng.bit_generator.state


def set_state(state):
    _rng.bit_generator.state = state
