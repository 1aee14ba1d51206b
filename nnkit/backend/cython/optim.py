"""Fused optimizer updates: checks here, the one-pass loops in ``csrc/optim.pyx``."""
import inspect

import numpy as np

from nnkit import threads as _threads
from nnkit._ext import optim as _ext

from ..reference import optim as _reference
from ..reference.optim import check_state
from ..twin import twin_of

__all__ = ["sgd_update", "adam_update", "rmsprop_update", "adagrad_update", "nadam_update", "adamax_update",
           "adadelta_update", "lion_update", "ftrl_update"]

# Weights below which one thread is quicker: an update is a few flops per weight, memory bound, so the team only
# pays once a layer's weights and state outgrow a core's cache.
_MIN_PARALLEL_ELEMENTS = 65536


def _flat(a):
    return None if a is None else a.reshape(-1)


def _in_place(*state):
    """The kernels update flat views in place; other layouts (nnkit never makes them) take the reference's path."""
    return all(a is None or (a.flags.c_contiguous and a.flags.writeable) for a in state)


def _fused(name, nstate):
    """The checked entry for kernel ``name``, whose arguments are ``w, g``, then ``nstate`` state arrays (None where
    an option leaves one unused), then scalars: the reference's, in its order."""
    kernel, reference = getattr(_ext, name), getattr(_reference, name)
    signature = inspect.signature(reference)
    state_names = list(signature.parameters)[2:2 + nstate]

    def update(w, g, *args):
        state, scalars = args[:nstate], args[nstate:]
        check_state(name, w, g=g, **dict(zip(state_names, state)))
        if not _in_place(w, *state):
            return reference(w, g, *args)
        kernel(_flat(w), np.ascontiguousarray(g).reshape(-1), *map(_flat, state), *map(float, scalars),
               _threads.team_above(w.size, _MIN_PARALLEL_ELEMENTS))

    update.__name__ = update.__qualname__ = name
    update.__signature__ = signature  # the named arguments, for help() and the twin test
    return twin_of(reference)(update)


sgd_update = _fused("sgd_update", 1)
adam_update = _fused("adam_update", 3)
rmsprop_update = _fused("rmsprop_update", 3)
adagrad_update = _fused("adagrad_update", 1)
nadam_update = _fused("nadam_update", 2)
adamax_update = _fused("adamax_update", 2)
adadelta_update = _fused("adadelta_update", 2)
lion_update = _fused("lion_update", 1)
ftrl_update = _fused("ftrl_update", 2)
