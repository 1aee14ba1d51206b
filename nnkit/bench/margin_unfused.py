"""ArcFace written without the fused kernel, as the benchmarks' baseline: the
way InsightFace and most user code compose it from elementwise ops, a one-hot
mask and a plain softmax cross-entropy."""
import math

import numpy as np

from nnkit import functional as F
from nnkit import ops


def arcface_unfused(cosines, labels, s=64.0, m=0.5):
    """The mean ArcFace loss of ``cosines`` (an (N, K) Tensor), via nnkit ops and autograd."""
    n, k = cosines.shape
    rows = np.arange(n)
    target = cosines[rows, labels]
    sin = ops.sqrt(ops.clip(1.0 - target * target, 1e-12, 1.0))
    phi = target * math.cos(m) - sin * math.sin(m)
    phi = ops.where(target.data > -math.cos(m), phi, target - m * math.sin(m))
    onehot = np.zeros((n, k), dtype=cosines.dtype)
    onehot[rows, labels] = 1
    logits = (cosines + ops.reshape(phi - target, (n, 1)) * onehot) * s
    return F.softmax_cross_entropy(logits, labels)


def arcface_torch(cosines, labels, s=64.0, m=0.5):
    """The same in PyTorch (InsightFace's formulation, differentiable throughout)."""
    import torch

    target = cosines.gather(1, labels[:, None])
    sin = torch.sqrt(torch.clamp(1.0 - target * target, 1e-12, 1.0))
    phi = target * math.cos(m) - sin * math.sin(m)
    phi = torch.where(target > -math.cos(m), phi, target - m * math.sin(m))
    logits = cosines.scatter(1, labels[:, None], phi) * s
    return torch.nn.functional.cross_entropy(logits, labels)
