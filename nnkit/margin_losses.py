"""Angular-margin losses on cosines (exported from ``nnkit.losses``).

Each takes integer labels ``y_true`` (N,) (or (N, 1)) and ``y_pred``, the
(N, K) cosines between normalised embeddings and class centres
(``nnkit.layers.NormalizedDense``).  The label's cosine ``cos(theta)`` is
replaced by a margin-penalised logit ``z``, every logit is scaled by ``s``,
and the per-sample loss is the softmax cross-entropy; reductions and
``sample_weight`` are those of every ``nnkit.losses.Loss``.  One fused kernel
(``nnkit.functional.margin_cross_entropy``) computes the loss and its exact
gradient, finite at ``cos(theta) = +-1`` (the derivation is in
``nnkit.backend.reference.margin_xent``).

=====================  ===============================================================
``NormalizedSoftmax``  ``z = cos(theta)``
``CosFace``            ``z = cos(theta) - m``
``ArcFace``            ``z = cos(theta + m)`` while ``theta + m <= pi``, else ``cos(theta) - m sin(m)``;
                       ``easy_margin``: ``cos(theta + m)`` while ``cos(theta) > 0``, else ``cos(theta)``
``SphereFace``         ``z = (-1)^k cos(m theta) - 2k``, ``k = floor(m theta / pi)``
``CombinedMargin``     ``z = cos(m1 theta + m2) - m3``
=====================  ===============================================================
"""
import math

import numpy as np

from nnkit import functional as F
from nnkit.losses import Loss
from nnkit.tensor import Tensor, as_tensor

__all__ = ["ArcFace", "CosFace", "SphereFace", "CombinedMargin", "NormalizedSoftmax"]

MAX_SCALE = 1e4


def _labels(op, y_true, k, n=None):
    """Integer labels (N,) in [0, k) as int64; (N, 1) and integral floats are accepted."""
    y = y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or (n is not None and y.shape[0] != n):
        want = f"({n},)" if n is not None else "(N,)"
        raise ValueError(f"{op}: expected integer class labels of shape {want} or {want[:-2]}, 1), "
                         f"got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{op}: expected integer class labels, got non-integer values")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{op}: expected integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"{op}: labels must be in [0, {k}) for {k} classes, got values from {y.min()} to {y.max()}")
    return y.astype(np.int64)


class _MarginLoss(Loss):
    """Base: subclasses store their margins and say how they map to the kernel's (``_kernel_margin``)."""

    def __init__(self, s, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.s = self._number("s", s, 0.0, MAX_SCALE, low_open=True)

    def _number(self, name, value, low, high, low_open=False, what=""):
        cls = type(self).__name__
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{cls}: {name} must be a real number, got {value!r}") from None
        if not ((v > low if low_open else v >= low) and v <= high):
            raise ValueError(f"{cls}: {name} must be in {'(' if low_open else '['}{low:g}, {high:g}]{what}, "
                             f"got {value!r}")
        return v

    def _kernel_margin(self):
        raise NotImplementedError

    def call(self, y_true, y_pred):
        y_pred = as_tensor(y_pred)
        if y_pred.ndim != 2:
            raise ValueError(f"{self.name}: expected cosines (batch, classes) from NormalizedDense, "
                             f"got shape {y_pred.shape}")
        labels = _labels(self.name, y_true, y_pred.shape[1], y_pred.shape[0])
        return F.margin_cross_entropy(y_pred, labels, self.s, reduction="none", **self._kernel_margin())

    def check_targets(self, y_true, output_shape):
        if len(output_shape) != 2:
            raise ValueError(f"{self.name}: expects a model output of cosines (batch, classes), got "
                             f"{tuple(output_shape)}")
        _labels(self.name, y_true, output_shape[-1])

    def get_config(self):
        return {**super().get_config(), "s": self.s}


class NormalizedSoftmax(_MarginLoss):
    """Cross-entropy of ``softmax(s * cos(theta))``: the normalised softmax, no margin."""

    def __init__(self, s=20.0, reduction="sum_over_batch_size", name=None):
        super().__init__(s, reduction, name)

    def _kernel_margin(self):
        return {"margin": "combined"}


class CosFace(_MarginLoss):
    """Large-margin cosine loss: the target logit is ``cos(theta) - m``."""

    def __init__(self, s=64.0, m=0.35, reduction="sum_over_batch_size", name=None):
        super().__init__(s, reduction, name)
        self.m = self._number("m", m, 0.0, 1.0)

    def _kernel_margin(self):
        return {"margin": "combined", "m3": self.m}

    def get_config(self):
        return {**super().get_config(), "m": self.m}


class ArcFace(_MarginLoss):
    """Additive angular margin: the target logit is ``cos(theta + m)``.

    While ``theta + m <= pi`` (``cos(theta) > cos(pi - m)``); beyond, where
    ``cos(theta + m)`` would rise again, ``cos(theta) - m sin(m)`` keeps the
    logit decreasing in theta.  ``easy_margin=True``: ``cos(theta + m)`` while
    ``cos(theta) > 0``, else ``cos(theta)``.
    """

    def __init__(self, s=64.0, m=0.5, easy_margin=False, reduction="sum_over_batch_size", name=None):
        super().__init__(s, reduction, name)
        self.m = self._number("m", m, 0.0, math.pi / 2, what=" (radians)")
        self.easy_margin = bool(easy_margin)

    def _kernel_margin(self):
        return {"margin": "arcface_easy" if self.easy_margin else "arcface", "m2": self.m}

    def get_config(self):
        return {**super().get_config(), "m": self.m, "easy_margin": self.easy_margin}


class SphereFace(_MarginLoss):
    """Multiplicative angular margin (A-Softmax) on normalised features with a fixed scale:
    the target logit is ``psi(theta) = (-1)^k cos(m theta) - 2k``, ``k = floor(m theta / pi)``."""

    def __init__(self, s=30.0, m=4, reduction="sum_over_batch_size", name=None):
        super().__init__(s, reduction, name)
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= 16:
            raise ValueError(f"SphereFace: m must be an integer in [1, 16], got {m!r}")
        self.m = int(m)

    def _kernel_margin(self):
        return {"margin": "sphereface", "m1": self.m}

    def get_config(self):
        return {**super().get_config(), "m": self.m}


class CombinedMargin(_MarginLoss):
    """InsightFace's combined margin: the target logit is ``cos(m1 theta + m2) - m3``
    (ArcFace without its fallback is ``m1=1, m3=0``; CosFace ``m1=1, m2=0``)."""

    def __init__(self, s=64.0, m1=1.0, m2=0.5, m3=0.0, reduction="sum_over_batch_size", name=None):
        super().__init__(s, reduction, name)
        self.m1 = self._number("m1", m1, 0.0, 16.0, low_open=True)
        self.m2 = self._number("m2", m2, 0.0, math.pi / 2, what=" (radians)")
        self.m3 = self._number("m3", m3, 0.0, 1.0)

    def _kernel_margin(self):
        return {"margin": "combined", "m1": self.m1, "m2": self.m2, "m3": self.m3}

    def get_config(self):
        return {**super().get_config(), "m1": self.m1, "m2": self.m2, "m3": self.m3}
