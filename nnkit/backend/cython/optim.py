"""Fused optimizer updates: checks here, the one-pass loops in ``csrc/optim.pyx``."""
import numpy as np

from nnkit._ext import optim as _ext

from ..reference import optim as _reference
from ..reference.optim import check_state

__all__ = ["adam_update"]


def _flat(a):
    return None if a is None else a.reshape(-1)


def adam_update(w, g, m, v, vhat, alpha, beta_1, beta_2, epsilon):
    """One Adam step in place: ``m += (1-b1)(g-m)``; ``v += (1-b2)(g^2-v)``;
    ``vhat = max(vhat, v)`` when given (AMSGrad); ``w -= alpha m / (sqrt(v or vhat) + eps)``."""
    check_state("adam_update", w, g=g, m=m, v=v, vhat=vhat)
    state = (w, m, v) + (() if vhat is None else (vhat,))
    if not all(a.flags.c_contiguous and a.flags.writeable for a in state):
        # Updated in place, so never copied: such arrays (nnkit never makes them) take the reference's path.
        return _reference.adam_update(w, g, m, v, vhat, alpha, beta_1, beta_2, epsilon)
    _ext.adam_update(_flat(w), np.ascontiguousarray(g).reshape(-1), _flat(m), _flat(v), _flat(vhat),
                     alpha, beta_1, beta_2, epsilon)
