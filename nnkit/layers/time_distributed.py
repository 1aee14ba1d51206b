"""``TimeDistributed``: one layer applied to every step of a sequence, with one set of weights."""
import numpy as np

from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.normalization import BatchNormalization
from nnkit.layers.registry import deserialize, register, serialize
from nnkit.layers.shapes import format_shape
from nnkit.tensor import Tensor


@register
class TimeDistributed(Layer):
    """Apply ``layer`` to each step ``inputs[:, t]`` of an input (batch, steps, ...), as Keras 3: output
    (batch, steps, *layer's output per step).  The weights are the wrapped layer's (its names too).

    The steps are folded into the batch, so the wrapped layer runs once on (batch * steps, ...) — the same
    numbers as one call per step for any layer that treats samples independently.  A layer with
    BatchNormalization inside runs once per step instead, so that its batch statistics are per step as in
    Keras.  A mask (batch, steps) reaches the wrapped layer's ``mask`` argument (folded the same way) when it
    has one, and the output keeps the input's mask.
    """

    _supports_masking = True  # the output carries the input's (batch, steps) mask

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise self._error(f"wraps a Layer instance, got {type(layer).__name__}: {layer!r}", TypeError)
        self.layer = layer

    def _child_shape(self, input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3 or \
                not all(d is None or isinstance(d, (int, np.integer)) for d in input_shape):
            raise self._error(f"expects one input of rank 3 or more (batch, steps, ...), got "
                              f"{format_shape(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        child = self._child_shape(input_shape)
        if not self.layer.built:
            self.layer._maybe_build(child, self.dtype)

    def _per_step(self):
        return any(isinstance(layer, BatchNormalization) for layer in self.layer._walk())

    def call(self, inputs, training=None, mask=None):
        if not isinstance(inputs, Tensor) or inputs.ndim < 3:
            raise self._error(f"expects one input of rank 3 or more (batch, steps, ...), got "
                              f"{getattr(inputs, 'shape', type(inputs).__name__)}")
        batch, steps = inputs.shape[:2]
        kwargs = {"training": training}
        if mask is not None:
            mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask, bool)
            if mask.ndim < 2 or mask.shape[:2] != (batch, steps):
                raise self._error(f"the mask must start with the input's (batch, steps) = {(batch, steps)}, got "
                                  f"a mask of shape {mask.shape}")
            if not self.layer._takes_mask():
                mask = None
        if self._per_step():
            outs = []
            for t in range(steps):
                step_kwargs = kwargs if mask is None else {**kwargs, "mask": mask[:, t]}
                outs.append(self.layer(inputs[:, t], **step_kwargs))
            return ops.stack(outs, axis=1)
        folded = ops.reshape(inputs, (batch * steps,) + inputs.shape[2:])
        if mask is not None:
            kwargs["mask"] = mask.reshape((batch * steps,) + mask.shape[2:])
        out = self.layer(folded, **kwargs)
        if not isinstance(out, Tensor):
            raise self._error(f"the wrapped {self.layer.describe()} must return one tensor, got "
                              f"{type(out).__name__}", TypeError)
        return ops.reshape(out, (batch, steps) + out.shape[1:])

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(child[1:])

    def get_config(self):
        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return super().from_config({**config, "layer": deserialize(config["layer"])})
