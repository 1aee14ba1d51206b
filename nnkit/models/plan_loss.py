"""The losses a training plan computes itself, value and gradient, on arrays.

``Model.compute_loss`` reduces the plan's output as a Tensor and ``loss.backward()``
walks that small graph back to the plan's last array.  For the classification
losses a plan meets most, the plan does that work without the graph: it runs the
same ``Function`` classes the Tensor path records (the fused
``SoftmaxCrossEntropy``, then ``Mean``), forward and backward, on the same arrays
in the same order, so the value and the gradient are the same bits.

Known: ``SparseCategoricalCrossentropy`` and ``CategoricalCrossentropy`` (any
``label_smoothing``) on logits, or on a softmax output (whose logits they read,
as the Tensor path does), with the default reduction, for a model with one
output, a loss weight of 1, no sample weight, no ``ignore_class`` and no penalty
in ``model.losses``.  Anything else goes through ``compute_loss``.
"""
import numpy as np

from nnkit import functional as F
from nnkit import losses as nnlosses
from nnkit import ops

__all__ = ["loss_on_arrays"]


def loss_on_arrays(compiled, y_true, y_pred, head, sample_weight):
    """``(value, gradient at head)`` of the compiled loss ``compiled`` (a ``CompiledLoss``) for targets ``y_true``
    and the plan's output ``y_pred`` (a Tensor), or None when ``compute_loss`` must compute it.

    ``head`` is the Tensor the planned backward starts from: the loss must read exactly it (the logits).
    """
    if sample_weight is not None or compiled.names is None or len(compiled.losses) != 1 \
            or compiled.weights[0] != 1.0:
        return None
    loss = compiled.losses[0]
    compute = _KNOWN.get(type(loss))
    if compute is None or loss.reduction != "sum_over_batch_size" or getattr(loss, "ignore_class", None) is not None:
        return None
    logits = y_pred if loss.from_logits else nnlosses._softmax_input(y_pred)
    if logits is not head or logits.ndim != 2:
        return None  # a head the loss reads through an activation, or per-timestep outputs: the Tensor path
    fn = F.SoftmaxCrossEntropy()
    per_sample = compute(fn, loss, y_true, y_pred, logits.data)
    if per_sample is None:
        return None
    mean = ops.Mean()
    value = mean.forward(per_sample, axis=None, keepdims=False)
    (g,) = mean.backward(np.ones_like(value))  # as Tensor.backward seeds a scalar loss
    return float(value), fn.backward(g)[0]


def _sparse(fn, loss, y_true, y_pred, logits):
    """``sparse_categorical_crossentropy``'s per-sample losses (its label checks, its errors)."""
    labels = nnlosses._sparse_labels("sparse_categorical_crossentropy", y_true, y_pred).reshape(-1)
    return fn.forward(logits, target=labels, label_smoothing=0.0)


def _categorical(fn, loss, y_true, y_pred, logits):
    """``categorical_crossentropy``'s per-sample losses; None for targets of the wrong shape (its error)."""
    y = nnlosses._array(y_true)
    if y.shape != logits.shape:
        return None
    return fn.forward(logits, target=y.astype(logits.dtype, copy=False), label_smoothing=loss.label_smoothing)


_KNOWN = {nnlosses.SparseCategoricalCrossentropy: _sparse, nnlosses.CategoricalCrossentropy: _categorical}
