"""Fused softmax + cross-entropy: checks and outputs here, loops in ``csrc/softmax_xent.pyx``."""
import numpy as np

from nnkit import threads as _threads
from nnkit._ext import softmax_xent as _ext

from ..reference import softmax_xent as _reference
from ..reference.softmax_xent import check_backward, check_forward
from ..twin import twin_of

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]

# Logits below which one thread is quicker: a row costs an exp per logit, and a typical classifier head (batch
# 64, 10 classes) is far too small to pay for waking the team.
_MIN_PARALLEL_ELEMENTS = 32768


@twin_of(_reference.softmax_cross_entropy_forward)
def softmax_cross_entropy_forward(logits, target, label_smoothing=0.0):
    logits, target, ls = check_forward(logits, target, label_smoothing)
    loss = np.empty(logits.shape[0], dtype=logits.dtype)
    probs = np.empty_like(logits)
    kernel = (_ext.softmax_cross_entropy_forward_labels if target.ndim == 1
              else _ext.softmax_cross_entropy_forward_dense)
    kernel(logits, target, ls, loss, probs, _threads.team_above(logits.size, _MIN_PARALLEL_ELEMENTS))
    return loss, probs


@twin_of(_reference.softmax_cross_entropy_backward)
def softmax_cross_entropy_backward(dloss, probs, target, label_smoothing=0.0):
    dloss, probs, target, ls = check_backward(dloss, probs, target, label_smoothing)
    dlogits = np.empty_like(probs)
    kernel = (_ext.softmax_cross_entropy_backward_labels if target.ndim == 1
              else _ext.softmax_cross_entropy_backward_dense)
    kernel(dloss, probs, target, ls, dlogits, _threads.team_above(probs.size, _MIN_PARALLEL_ELEMENTS))
    return dlogits
