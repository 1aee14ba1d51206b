"""Projective (affine) image resampling: checks and outputs here, the loops in ``csrc/affine.pyx``."""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import affine as _ext

from ..reference import affine as _reference
from ..reference.affine import check_backward, check_forward
from ..twin import twin_of

__all__ = ["affine_forward", "affine_backward"]

_MIN_PARALLEL_PIXELS = 16384  # output pixels x channels below which one thread is quicker than waking the team


def _nthreads(batch, work):
    return max(1, min(batch, _threads.team_above(work, _MIN_PARALLEL_PIXELS)))


@twin_of(_reference.affine_forward)
def affine_forward(x, transforms, output_size=None, interpolation="bilinear", fill_mode="reflect",
                   fill_value=0.0):
    x, t, out, bilinear, mode, fill = check_forward(x, transforms, output_size, interpolation, fill_mode,
                                                    fill_value)
    y = np.empty((x.shape[0],) + out + (x.shape[3],), x.dtype)
    _ext.affine_forward(x, t, y, bilinear, mode, fill, _nthreads(x.shape[0], y.size))
    return y


@twin_of(_reference.affine_backward)
def affine_backward(dy, transforms, input_shape, interpolation="bilinear", fill_mode="reflect"):
    dy, t, shape, bilinear, mode = check_backward(dy, transforms, input_shape, interpolation, fill_mode)
    dx = np.zeros(shape, dy.dtype)
    _ext.affine_backward(dy, t, dx, bilinear, mode, _nthreads(dy.shape[0], dy.size))
    return dx
