"""Batch normalisation, channels-last: the pure-NumPy reference.

``x`` is any (..., C) array; statistics run over all leading axes, i.e. over
the rows of ``x`` viewed as (M, C).  Training uses the biased batch variance.
The ``check_*`` functions are the argument checks shared with the Cython
backend.
"""
import numpy as np

from ..validate import as_rows, float_array, same_dtype, same_shape, scalar_in, shape_is

__all__ = ["batch_norm_forward_train", "batch_norm_backward", "batch_norm_inference"]

OP = "batch_norm"


# ----------------------------------------------------------------------------- argument checks

def check_x(x, need_rows):
    """``x`` as a C-contiguous float array of at least one dimension (and one row if asked)."""
    given = x
    x = float_array(OP, "x", x)
    if given.ndim < 1:  # (checked on the input: ascontiguousarray makes 0-d arrays 1-d)
        raise ValueError(f"{OP}: expected x to have shape (..., C), got shape {given.shape}")
    if need_rows and np.prod(x.shape[:-1], dtype=np.int64) < 1:
        raise ValueError(f"{OP}: expected x to have at least one row to take statistics over, "
                         f"got shape {x.shape}")
    return x


def check_channels(x, **params):
    """Each parameter a C-contiguous (C,) array of x's dtype; returned in order."""
    out = []
    for name, p in params.items():
        p = float_array(OP, name, p, ndim=1)
        shape_is(OP, name, p, x.shape[-1:])
        out.append(p)
    same_dtype(OP, x=x, **dict(zip(params, out)))
    return out


def check_eps(eps):
    return scalar_in(OP, "eps", eps, 0.0, np.inf, low_open=True)


def check_train(x, gamma, beta, eps):
    x = check_x(x, need_rows=True)
    return (x, *check_channels(x, gamma=gamma, beta=beta), check_eps(eps))


def check_backward(dy, x, mean, invstd, gamma):
    x = check_x(x, need_rows=True)
    dy = float_array(OP, "dy", dy)
    same_shape(OP, "dy", dy, "x", x)
    same_dtype(OP, dy=dy, x=x)
    return (dy, x, *check_channels(x, mean=mean, invstd=invstd, gamma=gamma))


def check_inference(x, gamma, beta, mean, var, eps):
    x = check_x(x, need_rows=False)
    return (x, *check_channels(x, gamma=gamma, beta=beta, mean=mean, var=var), check_eps(eps))


# ----------------------------------------------------------------------------- ops

def batch_norm_forward_train(x, gamma, beta, eps):
    """Normalise with batch statistics.

    Returns ``(y, mean, invstd, var)`` with ``y = (x - mean) * invstd * gamma + beta``,
    ``invstd = 1 / sqrt(var + eps)`` and ``var`` the biased variance over rows.
    """
    x, gamma, beta, eps = check_train(x, gamma, beta, eps)
    rows = as_rows(x)
    mean = rows.mean(axis=0)
    var = np.square(rows - mean).mean(axis=0)
    invstd = 1 / np.sqrt(var + eps)
    return (x - mean) * (invstd * gamma) + beta, mean, invstd, var


def batch_norm_backward(dy, x, mean, invstd, gamma):
    """Gradient through the batch statistics: returns ``(dx, dgamma, dbeta)``.

    With ``xhat = (x - mean) * invstd`` over M rows::

        dbeta  = sum(dy)            dgamma = sum(dy * xhat)
        dx     = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)
    """
    dy, x, mean, invstd, gamma = check_backward(dy, x, mean, invstd, gamma)
    c = x.shape[-1]
    rows, drows = as_rows(x), as_rows(dy)
    m = rows.shape[0]
    xhat = (rows - mean) * invstd
    dbeta = drows.sum(axis=0)
    dgamma = (drows * xhat).sum(axis=0)
    dx = (gamma * invstd / m) * (m * drows - dbeta - xhat * dgamma)
    return dx.reshape(x.shape), dgamma, dbeta


def batch_norm_inference(x, gamma, beta, mean, var, eps):
    """Normalise with given (running) statistics: ``(x - mean) / sqrt(var + eps) * gamma + beta``."""
    x, gamma, beta, mean, var, eps = check_inference(x, gamma, beta, mean, var, eps)
    return (x - mean) * (gamma / np.sqrt(var + eps)) + beta
