"""Batch normalisation, channels-last: checks and outputs here, loops in ``csrc/batchnorm.pyx``."""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import batchnorm as _ext

from ..reference import batchnorm as _reference
from ..reference.batchnorm import check_backward, check_inference, check_train
from ..twin import twin_of
from ..validate import as_rows

__all__ = ["batch_norm_forward_train", "batch_norm_backward", "batch_norm_inference"]

# Elements below which one thread is quicker: each pass is a few flops per element, less than waking the team
# costs.  The row chunks (hence the results) do not depend on the team.
_MIN_PARALLEL_ELEMENTS = 32768


def _rows(a):
    """The (M, C) view of a C-contiguous (..., C) array."""
    return as_rows(a) if a.ndim != 2 else a


@twin_of(_reference.batch_norm_forward_train)
def batch_norm_forward_train(x, gamma, beta, eps):
    x, gamma, beta, eps = check_train(x, gamma, beta, eps)
    y = np.empty_like(x)
    mean, invstd, var = np.empty_like(gamma), np.empty_like(gamma), np.empty_like(gamma)
    nthreads = _threads.team_above(x.size, _MIN_PARALLEL_ELEMENTS)
    _ext.batch_norm_forward_train(_rows(x), gamma, beta, eps, _rows(y), mean, invstd, var, nthreads)
    return y, mean, invstd, var


@twin_of(_reference.batch_norm_backward)
def batch_norm_backward(dy, x, mean, invstd, gamma):
    dy, x, mean, invstd, gamma = check_backward(dy, x, mean, invstd, gamma)
    dx = np.empty_like(x)
    dgamma = np.empty_like(gamma)
    dbeta = np.empty_like(gamma)
    nthreads = _threads.team_above(x.size, _MIN_PARALLEL_ELEMENTS)
    _ext.batch_norm_backward(_rows(dy), _rows(x), mean, invstd, gamma, _rows(dx), dgamma, dbeta, nthreads)
    return dx, dgamma, dbeta


@twin_of(_reference.batch_norm_inference)
def batch_norm_inference(x, gamma, beta, mean, var, eps):
    x, gamma, beta, mean, var, eps = check_inference(x, gamma, beta, mean, var, eps)
    y = np.empty_like(x)
    nthreads = _threads.team_above(x.size, _MIN_PARALLEL_ELEMENTS)
    _ext.batch_norm_inference(_rows(x), gamma, beta, mean, var, eps, _rows(y), nthreads)
    return y
