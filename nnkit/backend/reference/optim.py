"""Fused optimizer updates: the pure-NumPy reference (whole-array operations, in place).

The formulas are Keras 3's, including where epsilon goes.  Every scalar
enters as a Python float, so NumPy computes in the arrays' own dtype.  The
``check_*`` functions are the argument checks shared with the Cython backend.
"""
import numpy as np

from ..validate import same_dtype, shape_is

__all__ = ["sgd_update", "adam_update", "rmsprop_update", "adagrad_update"]


def check_state(op, w, **arrays):
    """``w`` and every array in ``arrays`` (None skipped): float ndarrays of one shape and dtype."""
    for name, a in (("w", w),) + tuple(arrays.items()):
        if a is None:
            continue
        if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: expected {name} to be a float32 or float64 numpy.ndarray, "
                            f"got {getattr(a, 'dtype', type(a).__name__)}")
        shape_is(op, name, a, w.shape)
    same_dtype(op, w=w, **arrays)


def sgd_update(w, g, velocity, lr, momentum, nesterov):
    """One SGD step in place: ``w -= lr g``; with ``velocity``: ``v = momentum v - lr g`` and ``w += v``
    (Nesterov: ``w += momentum v - lr g``)."""
    check_state("sgd_update", w, g=g, velocity=velocity)
    if velocity is None:
        w -= lr * g
        return
    velocity *= momentum
    velocity -= lr * g
    if nesterov:
        w += momentum * velocity
        w -= lr * g
    else:
        w += velocity


def adam_update(w, g, m, v, vhat, alpha, beta_1, beta_2, epsilon):
    """One Adam step in place: ``m += (1-b1)(g-m)``; ``v += (1-b2)(g^2-v)``;
    ``vhat = max(vhat, v)`` when given (AMSGrad); ``w -= alpha m / (sqrt(v or vhat) + eps)``."""
    check_state("adam_update", w, g=g, m=m, v=v, vhat=vhat)
    m += (1 - beta_1) * (g - m)
    v += (1 - beta_2) * (g * g - v)
    if vhat is not None:
        np.maximum(vhat, v, out=vhat)
        v = vhat
    w -= alpha * m / (np.sqrt(v) + epsilon)


def rmsprop_update(w, g, v, avg, mom, lr, rho, momentum, epsilon):
    """One RMSprop step in place: ``v = rho v + (1-rho) g^2``; centred (``avg`` given):
    ``avg = rho avg + (1-rho) g`` and ``v - avg^2`` in the denominator; ``step = lr g / sqrt(denom + eps)``;
    with ``mom`` given: ``mom = momentum mom + step`` is the step; ``w -= step``."""
    check_state("rmsprop_update", w, g=g, v=v, avg=avg, mom=mom)
    v *= rho
    v += (1 - rho) * g * g
    if avg is not None:
        avg *= rho
        avg += (1 - rho) * g
        denom = v - avg * avg + epsilon
    else:
        denom = v + epsilon
    step = lr * g / np.sqrt(denom)
    if mom is not None:
        mom *= momentum
        mom += step
        step = mom
    w -= step


def adagrad_update(w, g, acc, lr, epsilon):
    """One Adagrad step in place: ``acc += g^2``; ``w -= lr g / sqrt(acc + eps)``."""
    check_state("adagrad_update", w, g=g, acc=acc)
    acc += g * g
    w -= lr * g / np.sqrt(acc + epsilon)
