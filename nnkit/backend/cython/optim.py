"""Fused optimizer updates: checks here, the one-pass loops in ``csrc/optim.pyx``."""
import inspect

import numpy as np

from nnkit._ext import optim as _ext

from ..reference import optim as _reference
from ..reference.optim import check_state
from ..twin import twin_of

__all__ = ["sgd_update", "adam_update", "rmsprop_update", "adagrad_update", "nadam_update", "adamax_update",
           "adadelta_update", "lion_update", "ftrl_update"]


def _flat(a):
    return None if a is None else a.reshape(-1)


def _in_place(*state):
    """The kernels update flat views in place; other layouts (nnkit never makes them) take the reference's path."""
    return all(a is None or (a.flags.c_contiguous and a.flags.writeable) for a in state)


@twin_of(_reference.sgd_update)
def sgd_update(w, g, velocity, lr, momentum, nesterov):
    check_state("sgd_update", w, g=g, velocity=velocity)
    if not _in_place(w, velocity):
        return _reference.sgd_update(w, g, velocity, lr, momentum, nesterov)
    _ext.sgd_update(_flat(w), np.ascontiguousarray(g).reshape(-1), _flat(velocity), lr, momentum, bool(nesterov))


@twin_of(_reference.adam_update)
def adam_update(w, g, m, v, vhat, alpha, beta_1, beta_2, epsilon):
    check_state("adam_update", w, g=g, m=m, v=v, vhat=vhat)
    if not _in_place(w, m, v, vhat):
        return _reference.adam_update(w, g, m, v, vhat, alpha, beta_1, beta_2, epsilon)
    _ext.adam_update(_flat(w), np.ascontiguousarray(g).reshape(-1), _flat(m), _flat(v), _flat(vhat),
                     alpha, beta_1, beta_2, epsilon)


@twin_of(_reference.rmsprop_update)
def rmsprop_update(w, g, v, avg, mom, lr, rho, momentum, epsilon):
    check_state("rmsprop_update", w, g=g, v=v, avg=avg, mom=mom)
    if not _in_place(w, v, avg, mom):
        return _reference.rmsprop_update(w, g, v, avg, mom, lr, rho, momentum, epsilon)
    _ext.rmsprop_update(_flat(w), np.ascontiguousarray(g).reshape(-1), _flat(v), _flat(avg), _flat(mom),
                        lr, rho, momentum, epsilon)


@twin_of(_reference.adagrad_update)
def adagrad_update(w, g, acc, lr, epsilon):
    check_state("adagrad_update", w, g=g, acc=acc)
    if not _in_place(w, acc):
        return _reference.adagrad_update(w, g, acc, lr, epsilon)
    _ext.adagrad_update(_flat(w), np.ascontiguousarray(g).reshape(-1), _flat(acc), lr, epsilon)


def _fused(name, state_names):
    """The checked entry for kernel ``name`` whose arguments are ``w, g, *state, *scalars``."""
    kernel, reference = getattr(_ext, name), getattr(_reference, name)

    def update(w, g, *args):
        state, scalars = args[:len(state_names)], args[len(state_names):]
        check_state(name, w, g=g, **dict(zip(state_names, state)))
        if not _in_place(w, *state):
            return reference(w, g, *args)
        kernel(_flat(w), np.ascontiguousarray(g).reshape(-1), *map(_flat, state), *map(float, scalars))

    update.__name__ = update.__qualname__ = name
    update.__signature__ = inspect.signature(reference)  # the named arguments, for help() and the twin test
    return twin_of(reference)(update)


nadam_update = _fused("nadam_update", ("m", "v"))
adamax_update = _fused("adamax_update", ("m", "u"))
adadelta_update = _fused("adadelta_update", ("acc_grad", "acc_delta"))
lion_update = _fused("lion_update", ("m",))
ftrl_update = _fused("ftrl_update", ("acc", "linear"))
