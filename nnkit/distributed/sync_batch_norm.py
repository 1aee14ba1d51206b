"""``SyncBatchNormalization``: batch normalisation with the batch moments of all ranks together.

Plain ``BatchNormalization`` under data parallelism normalises each rank's
batch by its own moments (and keeps its own moving statistics), which for a
small per-rank batch differs from one process on the global batch.  This
layer all-reduces the per-feature sums instead, so every rank normalises by
the moments of the global batch, the moving statistics stay identical, and
training matches one process on the concatenated batches.  The backward
pass all-reduces the gradients of those sums (the derivative of a sum over
ranks is the sum of the ranks' derivatives), so the ranks must run the
layer in the same order (they do: same model, same step).  Outside
training, or on one rank, it is ``BatchNormalization``.  Import
``nnkit.distributed`` before loading a saved model that uses it.
"""
import numpy as np

from nnkit.layers.normalization import BatchNormalization
from nnkit.layers.registry import register
from nnkit.tensor import Function

from . import comm

__all__ = ["SyncBatchNormalization"]


class AllReduceSum(Function):
    """The sum of an array over all ranks; its gradient is the sum of the ranks' gradients."""

    def forward(self, x):
        return comm.allreduce(np.array(x, order="C", copy=True), "sum")

    def backward(self, grad):
        return (comm.allreduce(np.array(grad, order="C", copy=True), "sum"),)


@register
class SyncBatchNormalization(BatchNormalization):
    """``BatchNormalization`` whose training-mode moments are those of the batches of all ranks."""

    def call(self, inputs, training=None):
        if not (training and self.trainable) or not comm.is_initialized() or comm.size() == 1:
            return super().call(inputs, training)
        x = inputs
        axes = tuple(range(x.ndim - 1))
        count = float(comm.allreduce(np.array([np.prod(x.shape[:-1], dtype=np.float64)]), "sum")[0])
        mean = AllReduceSum.apply(x.sum(axis=axes)) * (1.0 / count)
        centred = x - mean
        var = AllReduceSum.apply((centred * centred).sum(axis=axes)) * (1.0 / count)  # biased, as Keras
        y = centred / (var + self.epsilon).sqrt()
        if self.scale:
            y = y * self.gamma
        if self.center:
            y = y + self.beta
        for moving, batch in ((self.moving_mean.data, mean.data), (self.moving_variance.data, var.data)):
            moving *= self.momentum
            moving += (1 - self.momentum) * batch
        return y
