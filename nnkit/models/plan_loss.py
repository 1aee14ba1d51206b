"""The losses a training plan computes itself, value and gradient, on arrays.

``Model.compute_loss`` reduces the plan's output as a Tensor and ``loss.backward()``
walks that small graph back to the plan's last array.  For the losses a plan
meets most, the plan does that work without the graph: it runs the
same ``Function`` classes the Tensor path records (the fused
``SoftmaxCrossEntropy``, or ``Subtract``, ``Square`` and ``Mean``; then the
reduction's ``Mean``), forward and backward, on the same arrays in the same
order, so the value and the gradient are the same bits.

Known: ``SparseCategoricalCrossentropy`` and ``CategoricalCrossentropy`` (any
``label_smoothing``) on logits, or on a softmax output (whose logits they read,
as the Tensor path does), and ``MeanSquaredError`` on the output itself; with
the default reduction, for a model with one output, a loss weight of 1, no
sample weight and no ``ignore_class`` (the trainer also asks for no penalty in
``model.losses`` and no ``compute_loss`` of the model's own).  Anything else
goes through ``compute_loss``.
"""
import numpy as np

from nnkit import functional as F
from nnkit import losses as nnlosses
from nnkit import ops

__all__ = ["loss_on_arrays"]


def loss_on_arrays(compiled, y_true, y_pred, head, sample_weight):
    """``(value, gradient at head)`` of the compiled loss ``compiled`` (a ``CompiledLoss``) for targets ``y_true``
    and the plan's output ``y_pred`` (a Tensor), or None when ``compute_loss`` must compute it.

    ``head`` is the Tensor the planned backward starts from: the loss must read exactly it.
    """
    if sample_weight is not None or compiled.names is None or len(compiled.losses) != 1 \
            or compiled.weights[0] != 1.0:
        return None
    loss = compiled.losses[0]
    compute = _KNOWN.get(type(loss))
    if compute is None or loss.reduction != "sum_over_batch_size" or getattr(loss, "ignore_class", None) is not None:
        return None
    read = y_pred if getattr(loss, "from_logits", True) else nnlosses._softmax_input(y_pred)
    if read is not head or read.ndim != 2:
        return None  # a head the loss reads through an activation, or per-timestep outputs: the Tensor path
    tape = compute(loss, y_true, y_pred, read.data)
    if tape is None:
        return None
    per_sample = tape[-1][1]
    value = ops.Mean().forward(per_sample, axis=None, keepdims=False)  # the reduction
    # its gradient, as Mean.backward computes it from Tensor.backward's seed of 1: 1 / N in the loss's dtype
    # (without Mean.backward's broadcast view, the slowest part of a small step's loss); then back through the
    # recorded Functions in reverse
    g = np.full(per_sample.shape, value.dtype.type(1) / per_sample.size, value.dtype)
    for fn, _ in reversed(tape):
        g = fn.backward(g)[0]
    return float(value), g


# Each: ``[(Function, its output)]`` in forward order, ending with the per-sample losses, or None where the
# targets do not fit (the Tensor path raises its own error).
def _sparse(loss, y_true, y_pred, logits):
    labels = nnlosses._sparse_labels("sparse_categorical_crossentropy", y_true, y_pred).reshape(-1)
    fn = F.SoftmaxCrossEntropy()
    return [(fn, fn.forward(logits, target=labels, label_smoothing=0.0))]


def _categorical(loss, y_true, y_pred, logits):
    y = nnlosses._array(y_true)
    if y.shape != logits.shape:
        return None
    fn = F.SoftmaxCrossEntropy()
    target = y.astype(logits.dtype, copy=False)
    return [(fn, fn.forward(logits, target=target, label_smoothing=loss.label_smoothing))]


def _squared(loss, y_true, y_pred, pred):
    """``mean_squared_error``: ``mean(square(pred - y), axis=-1)``."""
    try:
        y = nnlosses._float_target("mean_squared_error", y_true, y_pred)
    except (TypeError, ValueError):
        return None
    diff, square, mean = ops.Subtract(), ops.Square(), ops.Mean()
    errors = diff.forward(pred, y)
    squares = square.forward(errors)
    return [(diff, errors), (square, squares), (mean, mean.forward(squares, axis=-1, keepdims=False))]


_KNOWN = {nnlosses.SparseCategoricalCrossentropy: _sparse, nnlosses.CategoricalCrossentropy: _categorical,
          nnlosses.MeanSquaredError: _squared}
