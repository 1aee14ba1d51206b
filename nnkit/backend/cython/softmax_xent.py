"""Fused softmax + cross-entropy: checks and outputs here, loops in ``csrc/softmax_xent.pyx``."""
import numpy as np

from nnkit._ext import softmax_xent as _ext

from ..reference.softmax_xent import check_backward, check_forward

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


def softmax_cross_entropy_forward(logits, target, label_smoothing=0.0):
    """Softmax over the last axis and per-sample cross-entropy against ``target``.

    ``target`` is integer labels (N,) in [0, K) or float probabilities (N, K)
    of the logits' dtype; label smoothing uses ``t' = (1 - ls) * t + ls / K``.
    Returns ``(loss, probs)``: ``loss`` (N,) is ``-sum(t' * log_softmax(logits))``
    and ``probs`` (N, K) is ``softmax(logits)``.
    """
    logits, target, ls = check_forward(logits, target, label_smoothing)
    loss = np.empty(logits.shape[0], dtype=logits.dtype)
    probs = np.empty_like(logits)
    kernel = (_ext.softmax_cross_entropy_forward_labels if target.ndim == 1
              else _ext.softmax_cross_entropy_forward_dense)
    kernel(logits, target, ls, loss, probs)
    return loss, probs


def softmax_cross_entropy_backward(dloss, probs, target, label_smoothing=0.0):
    """Gradient with respect to the logits: ``dloss[:, None] * (probs - t')``."""
    dloss, probs, target, ls = check_backward(dloss, probs, target, label_smoothing)
    dlogits = np.empty_like(probs)
    kernel = (_ext.softmax_cross_entropy_backward_labels if target.ndim == 1
              else _ext.softmax_cross_entropy_backward_dense)
    kernel(dloss, probs, target, ls, dlogits)
    return dlogits
