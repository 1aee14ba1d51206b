"""Batch normalisation, channels-last: checks and outputs here, loops in ``csrc/batchnorm.pyx``."""
import numpy as np

from nnkit._ext import batchnorm as _ext

from ..reference.batchnorm import check_backward, check_inference, check_train
from ..validate import as_rows

__all__ = ["batch_norm_forward_train", "batch_norm_backward", "batch_norm_inference"]


def _rows(a):
    """The (M, C) view of a C-contiguous (..., C) array."""
    return as_rows(a) if a.ndim != 2 else a


def batch_norm_forward_train(x, gamma, beta, eps):
    """Normalise with batch statistics.

    Returns ``(y, mean, invstd, var)`` with ``y = (x - mean) * invstd * gamma + beta``,
    ``invstd = 1 / sqrt(var + eps)`` and ``var`` the biased variance over rows.
    """
    x, gamma, beta, eps = check_train(x, gamma, beta, eps)
    y = np.empty_like(x)
    mean, invstd, var = np.empty_like(gamma), np.empty_like(gamma), np.empty_like(gamma)
    _ext.batch_norm_forward_train(_rows(x), gamma, beta, eps, _rows(y), mean, invstd, var)
    return y, mean, invstd, var


def batch_norm_backward(dy, x, mean, invstd, gamma):
    """Gradient through the batch statistics: returns ``(dx, dgamma, dbeta)``.

    With ``xhat = (x - mean) * invstd`` over M rows::

        dbeta  = sum(dy)            dgamma = sum(dy * xhat)
        dx     = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)
    """
    dy, x, mean, invstd, gamma = check_backward(dy, x, mean, invstd, gamma)
    dx = np.empty_like(x)
    dgamma = np.empty_like(gamma)
    dbeta = np.empty_like(gamma)
    _ext.batch_norm_backward(_rows(dy), _rows(x), mean, invstd, gamma, _rows(dx), dgamma, dbeta)
    return dx, dgamma, dbeta


def batch_norm_inference(x, gamma, beta, mean, var, eps):
    """Normalise with given (running) statistics: ``(x - mean) / sqrt(var + eps) * gamma + beta``."""
    x, gamma, beta, mean, var, eps = check_inference(x, gamma, beta, mean, var, eps)
    y = np.empty_like(x)
    _ext.batch_norm_inference(_rows(x), gamma, beta, mean, var, eps, _rows(y))
    return y
