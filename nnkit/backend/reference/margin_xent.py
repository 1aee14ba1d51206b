"""Fused angular-margin softmax cross-entropy: the pure-NumPy reference.

The input is the cosine matrix ``cosines`` (N, K) between normalised
embeddings and normalised class centres, with integer ``labels``.  The target
cosine ``c = cos(theta)`` of each row is replaced by a margin logit ``z(c)``,
every logit is scaled by ``s``, and the loss is the cross-entropy of the
softmax: ``loss = logsumexp(s * row) - s * z``.  The margins (``margin``):

``"combined"``      ``cos(m1 theta + m2) - m3`` (InsightFace's combined margin; CosFace
                    is ``m1 = 1, m2 = 0, m3 = m``, the normalised softmax ``m3 = 0``)
``"arcface"``       ``cos(theta + m2)`` while ``c > cos(pi - m2)``, else ``c - m2 sin(m2)``
``"arcface_easy"``  ``cos(theta + m2)`` while ``c > 0``, else ``c``
``"sphereface"``    ``(-1)^k cos(m1 theta) - 2k``, ``k = floor(m1 theta / pi)``, ``m1`` an integer

Gradients are the derivatives of these formulas, in a form that never takes
the derivative of ``arccos``: ``cos(theta + m) = c cos m - sin(theta) sin m``
with ``sin(theta) = sqrt(1 - c^2)``, SphereFace through the Chebyshev
polynomials ``cos(m theta) = T_m(c)`` and ``d/dc = m U_(m-1)(c)`` (finite at
``c = +-1``: ``m^2`` at both ends; ``theta = pi`` belongs to the piece
``k = m - 1``, whose one-sided derivative that is).  Only the ArcFace/combined term
``sin(m2) * c / sin(theta)`` has no finite value at ``c = +-1`` (the true
one-sided derivative there is infinite; ``c = -1`` is never reached by
ArcFace's ``cos(theta + m)`` branch since ``-1 <= cos(pi - m)``, but is by
``"combined"``).  There ``sin(theta)`` is floored at ``sin_floor(dtype)``,
the sine of the smallest nonzero angle the dtype represents (3.5e-4 in
float32, 1.5e-8 in float64): at ``c = +-1`` exactly the derivative is
finite, and (for ``m1 = 1``, within rounding) its value at the neighbouring
representable cosine; every other cosine gets the exact derivative.  Through ``NormalizedDense`` that finite value meets a
zero Jacobian (``dc/dx = (w - c x) / |x| = 0`` when ``x`` lies on its class
centre), so the embedding's gradient there is 0: the loss is a cone in ``x``
at that point and 0 is its smallest subgradient.

Target cosines must lie in ``[-1, 1]`` up to rounding (``COS_TOLERANCE``);
they are clamped into it.  The ``check_*`` functions are shared with the
Cython backend.
"""
import math

import numpy as np

from ..validate import float_array, index_range, int_array, one_of, same_dtype, scalar_in, shape_is

__all__ = ["margin_cross_entropy_forward", "margin_cross_entropy_backward"]

OP = "margin_cross_entropy"
MARGINS = {"combined": 0, "arcface": 1, "arcface_easy": 2, "sphereface": 3}  # csrc/margin_xent.pyx's enum
COS_TOLERANCE = 1e-3   # a target cosine may step this far past +-1 (rounding), not further
MAX_SCALE = 1e4
MAX_SPHERE_M = 16


# ----------------------------------------------------------------------------- argument checks

def sin_floor(dtype):
    """sin(theta) at the representable cosine next to 1: ``sqrt(1 - (1 - u)^2)``, ``u = epsneg``."""
    u = float(np.finfo(dtype).epsneg)
    return math.sqrt(u * (2 - u))


def check_margin(s, margin, m1, m2, m3):
    """``(s, margin code, m1, m2, m3)`` as the kernel takes them; ranges per margin."""
    s = scalar_in(OP, "s", s, 0.0, MAX_SCALE, low_open=True)
    one_of(OP, "margin", margin, MARGINS)
    m1 = scalar_in(OP, "m1", m1, 0.0, MAX_SPHERE_M, low_open=True)
    m2 = scalar_in(OP, "m2", m2, 0.0, math.pi / 2)
    m3 = scalar_in(OP, "m3", m3, 0.0, 1.0)
    if margin == "sphereface" and (m1 != int(m1) or m1 > MAX_SPHERE_M):
        raise ValueError(f"{OP}: expected the sphereface margin m1 to be an integer in [1, {MAX_SPHERE_M}], "
                         f"got {m1:g}")
    if margin in ("arcface", "arcface_easy") and (m1 != 1 or m3 != 0):
        raise ValueError(f"{OP}: the {margin} margin takes m2 only (m1 = 1, m3 = 0), got m1={m1:g}, m3={m3:g}")
    if margin == "sphereface" and (m2 != 0 or m3 != 0):
        raise ValueError(f"{OP}: the sphereface margin takes m1 only (m2 = m3 = 0), got m2={m2:g}, m3={m3:g}")
    return s, MARGINS[margin], m1, m2, m3


def check_forward(cosines, labels, s, margin, m1, m2, m3):
    cosines = float_array(OP, "cosines", cosines, ndim=2)
    n, k = cosines.shape
    if k < 1:
        raise ValueError(f"{OP}: expected cosines (N, K) with at least one class, got shape {cosines.shape}")
    labels = int_array(OP, "labels", labels, (n,))
    index_range(OP, "labels", labels, k)
    target = cosines[np.arange(n), labels]
    bad = np.abs(target) > 1 + COS_TOLERANCE
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{OP}: expected cosines in [-1, 1] (the output of NormalizedDense), got "
                         f"{target[row]!r} as the target cosine of row {row}")
    return (cosines, labels) + check_margin(s, margin, m1, m2, m3)


def check_backward(dloss, dcosines):
    dcosines = float_array(OP, "dcosines", dcosines, ndim=2)
    dloss = float_array(OP, "dloss", dloss, ndim=1)
    shape_is(OP, "dloss", dloss, dcosines.shape[:1])
    same_dtype(OP, dloss=dloss, dcosines=dcosines)
    return dloss, dcosines


# ----------------------------------------------------------------------------- ops

def target_logit(c, margin, m1=1.0, m2=0.0, m3=0.0, floor=0.0):
    """``(z, dz/dc)`` of float64 target cosines ``c`` (an array), for a margin code of ``MARGINS``.

    ``floor`` bounds ``sin(theta)`` from below in the derivatives (see the module doc).
    """
    c = np.clip(np.asarray(c, dtype=np.float64), -1.0, 1.0)
    sin_t = np.sqrt((1 - c) * (1 + c))  # exact factors near +-1, where 1 - c*c would cancel
    d_sin = np.maximum(sin_t, floor)
    with np.errstate(divide="ignore", invalid="ignore"):  # branches np.where does not take
        if margin == MARGINS["sphereface"]:
            m = int(m1)
            theta = np.arccos(c)
            k = np.clip(np.floor(m * theta / math.pi), 0, m - 1)  # theta = pi ends piece m - 1
            t_prev, t, u_prev, u = np.ones_like(c), c, np.zeros_like(c), np.ones_like(c)
            for _ in range(1, m):
                t_prev, t = t, 2 * c * t - t_prev
                u_prev, u = u, 2 * c * u - u_prev
            sign = 1 - 2 * (k % 2)
            return sign * t - 2 * k, sign * m * u
        if m1 == 1:
            z = c * math.cos(m2) - sin_t * math.sin(m2) - m3
            dz = math.cos(m2) + math.sin(m2) * c / d_sin
        else:
            theta = np.arccos(c)
            a = m1 * theta
            sinc_ratio = m1 * np.where(a == 0, 1.0, np.sin(a) / a) / np.where(theta == 0, 1.0, np.sin(theta) / theta)
            ratio = np.where(theta <= math.pi / 2, sinc_ratio, np.sin(a) / d_sin)
            z = np.cos(a + m2) - m3
            dz = m1 * (math.cos(m2) * ratio + math.sin(m2) * np.cos(a) / d_sin)
    if margin == MARGINS["arcface"]:
        below = c <= -math.cos(m2)
        z, dz = np.where(below, c - m2 * math.sin(m2), z), np.where(below, 1.0, dz)
    elif margin == MARGINS["arcface_easy"]:
        below = c <= 0
        z, dz = np.where(below, c, z), np.where(below, 1.0, dz)
    return z, dz


def margin_cross_entropy_forward(cosines, labels, s, margin="combined", m1=1.0, m2=0.0, m3=0.0):
    """Per-row loss (N,) and its gradient with respect to the cosines (N, K).

    ``loss[i] = logsumexp(s * row_i) - s * z_i`` where ``row_i`` is
    ``cosines[i]`` with its label's entry replaced by ``z_i = z(cosines[i, labels[i]])``.
    """
    cosines, labels, s, code, m1, m2, m3 = check_forward(cosines, labels, s, margin, m1, m2, m3)
    dtype = cosines.dtype
    rows = np.arange(cosines.shape[0])
    z, dz = target_logit(cosines[rows, labels], code, m1, m2, m3, sin_floor(dtype))
    s = dtype.type(s)
    logits = s * cosines
    logits[rows, labels] = s * z.astype(dtype)
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    e_y = e[rows, labels]
    e[rows, labels] = 0   # 1 - p_y = others / total, without the cancellation of p_y - 1
    others = e.sum(axis=1)
    total = others + e_y
    loss = np.log(total) - shifted[rows, labels]
    grad = e * (s / total)[:, None]
    grad[rows, labels] = -s * (others / total) * dz.astype(dtype)
    return loss, grad


def margin_cross_entropy_backward(dloss, dcosines):
    """Gradient of the cosines: ``dloss[:, None] * dcosines`` (the forward's per-row gradient)."""
    dloss, dcosines = check_backward(dloss, dcosines)
    return dloss[:, None] * dcosines
