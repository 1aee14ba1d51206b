"""Fused optimizer updates: the pure-NumPy reference (whole-array operations, in place).

The formulas are Keras 3's, including where epsilon goes.  Every scalar
enters as a Python float, so NumPy computes in the arrays' own dtype.  The
``check_*`` functions are the argument checks shared with the Cython backend.
"""
import numpy as np

from ..validate import float_ndarray, same_dtype, shape_is

__all__ = ["sgd_update", "adam_update", "rmsprop_update", "adagrad_update", "nadam_update", "adamax_update",
           "adadelta_update", "lion_update", "ftrl_update"]


def check_state(op, w, **arrays):
    """``w`` and every array in ``arrays`` (None skipped): float ndarrays of one shape and dtype."""
    for name, a in (("w", w),) + tuple(arrays.items()):
        if a is None:
            continue
        shape_is(op, name, float_ndarray(op, name, a), w.shape)
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



def nadam_update(w, g, m, v, beta_1, beta_2, a, b, lr, bias_2, epsilon):
    """One Nadam step in place: ``m += (1-b1)(g-m)``; ``v += (1-b2)(g^2-v)``;
    ``w -= lr (a m + b g) / (sqrt(v / bias_2) + eps)``, where the optimizer computes Keras's
    momentum-schedule coefficients ``a = u_{t+1} / (1 - prod u_{..t+1})``, ``b = (1 - u_t) / (1 - prod u_{..t})``
    and ``bias_2 = 1 - b2^t``."""
    check_state("nadam_update", w, g=g, m=m, v=v)
    m += (1 - beta_1) * (g - m)
    v += (1 - beta_2) * (g * g - v)
    w -= lr * (a * m + b * g) / (np.sqrt(v / bias_2) + epsilon)


def adamax_update(w, g, m, u, lr, beta_1, beta_2, bias_1, epsilon):
    """One Adamax step in place: ``m += (1-b1)(g-m)``; ``u = max(b2 u, |g|)``;
    ``w -= lr m / (bias_1 (u + eps))`` with ``bias_1 = 1 - b1^t``."""
    check_state("adamax_update", w, g=g, m=m, u=u)
    m += (1 - beta_1) * (g - m)
    np.maximum(beta_2 * u, np.abs(g), out=u)
    w -= lr * m / (bias_1 * (u + epsilon))


def adadelta_update(w, g, acc_grad, acc_delta, lr, rho, epsilon):
    """One Adadelta step in place: ``acc_grad = rho acc_grad + (1-rho) g^2``;
    ``delta = -sqrt(acc_delta + eps) g / sqrt(acc_grad + eps)``;
    ``acc_delta = rho acc_delta + (1-rho) delta^2``; ``w += lr delta``."""
    check_state("adadelta_update", w, g=g, acc_grad=acc_grad, acc_delta=acc_delta)
    acc_grad *= rho
    acc_grad += (1 - rho) * g * g
    delta = -(np.sqrt(acc_delta + epsilon) * g / np.sqrt(acc_grad + epsilon))
    acc_delta *= rho
    acc_delta += (1 - rho) * delta * delta
    w += lr * delta


def lion_update(w, g, m, lr, beta_1, beta_2):
    """One Lion step in place: ``w -= lr sign(b1 m + (1-b1) g)``; then ``m = b2 m + (1-b2) g``."""
    check_state("lion_update", w, g=g, m=m)
    w -= lr * np.sign(beta_1 * m + (1 - beta_1) * g)
    m *= beta_2
    m += (1 - beta_2) * g


def _power(x, p):
    """``x^p``, as the square root when ``p`` is 0.5 (Keras's default), so both backends agree to the bit."""
    return np.sqrt(x) if p == 0.5 else np.power(x, p)


def ftrl_update(w, g, acc, linear, lr, power, l1, l2, shrinkage):
    """One FTRL step in place (Keras 3): ``power = -learning_rate_power``, ``l2`` already includes
    ``beta / (2 lr)``: ``new = acc + g^2``; ``linear += g + 2 shrinkage w - (new^p - acc^p) / lr w``;
    ``w = (clip(linear, -l1, l1) - linear) / (new^p / lr + 2 l2)``; ``acc = new``."""
    check_state("ftrl_update", w, g=g, acc=acc, linear=linear)
    new = acc + g * g
    new_p = _power(new, power)
    linear += (g + 2 * shrinkage * w) - (new_p - _power(acc, power)) / lr * w
    w[...] = (np.clip(linear, -l1, l1) - linear) / (new_p / lr + 2 * l2)
    acc[...] = new
