"""Every random-generator state a training run draws from, as one plain tree.

``capture()`` records nnkit's generator (initialisers, shuffling, dropout),
NumPy's legacy global generator and Python's ``random`` module, plus any
generator a layer keeps for itself (a ``numpy.random.Generator`` attribute,
e.g. a Dropout given its own seed).  ``restore`` puts them all back, so a
resumed run draws exactly the numbers the uninterrupted run would have.
The tree packs into JSON plus tensors with ``nnkit.io.state_tree``.
"""
import random as pyrandom

import numpy as np

from nnkit import random as nnrandom


def _layer_generators(model):
    """``{"<layer name>/<attribute>": Generator}`` for generators layers hold themselves."""
    found = {}
    walk = getattr(model, "_walk", None)
    for layer in (walk() if walk is not None else []):
        for attr, value in vars(layer).items():
            if isinstance(value, np.random.Generator):
                found[f"{layer.name}/{attr}"] = value
    return found


def capture(model=None):
    """The state of every generator (``model`` adds its layers' own generators)."""
    version, internal, gauss = pyrandom.getstate()
    return {
        "nnkit": nnrandom.get_state(),
        "numpy_global": np.random.get_state(legacy=False),
        "python": {"version": version, "state": list(internal), "gauss_next": gauss},
        "layers": {key: gen.bit_generator.state for key, gen in _layer_generators(model).items()},
    }


def restore(states, model=None):
    """Put back what ``capture`` recorded.  Raises ``ValueError`` for a state that does not fit."""
    try:
        nnrandom.set_state(states["nnkit"])
        np.random.set_state(states["numpy_global"])
        py = states["python"]
        pyrandom.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
        generators = _layer_generators(model)
        for key, state in states.get("layers", {}).items():
            if key in generators:
                generators[key].bit_generator.state = state
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"random-generator state does not fit: {type(exc).__name__}: {exc}") from None
