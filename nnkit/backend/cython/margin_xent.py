"""Fused angular-margin softmax cross-entropy: checks and outputs here, loops in ``csrc/margin_xent.pyx``."""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import margin_xent as _ext

from ..reference import margin_xent as _reference
from ..reference.margin_xent import check_backward, check_forward, sin_floor
from ..twin import twin_of

__all__ = ["margin_cross_entropy_forward", "margin_cross_entropy_backward"]

# Cosines below which one thread is quicker: as for softmax_xent, an exp per element is less work than waking
# the team for small heads.
_MIN_PARALLEL_ELEMENTS = 32768


@twin_of(_reference.margin_cross_entropy_forward)
def margin_cross_entropy_forward(cosines, labels, s, margin="combined", m1=1.0, m2=0.0, m3=0.0):
    cosines, labels, s, code, m1, m2, m3 = check_forward(cosines, labels, s, margin, m1, m2, m3)
    loss = np.empty(cosines.shape[0], dtype=cosines.dtype)
    dcosines = np.empty_like(cosines)
    _ext.margin_cross_entropy_forward(cosines, labels, s, code, m1, m2, m3, sin_floor(cosines.dtype),
                                      loss, dcosines, _threads.team_above(cosines.size, _MIN_PARALLEL_ELEMENTS))
    return loss, dcosines


@twin_of(_reference.margin_cross_entropy_backward)
def margin_cross_entropy_backward(dloss, dcosines):
    dloss, dcosines = check_backward(dloss, dcosines)
    out = np.empty_like(dcosines)
    _ext.margin_cross_entropy_backward(dloss, dcosines, out, _threads.team_above(out.size, _MIN_PARALLEL_ELEMENTS))
    return out
