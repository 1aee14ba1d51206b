"""``Masking``, and how masks travel between layers (Keras 3's rule, implemented in ``Layer.__call__``).

A mask is a boolean ndarray attached to a concrete Tensor (``nnkit.tensor.get_keras_mask`` /
``set_keras_mask``; the Tensor slot is Keras's name, ``_keras_mask``).  True marks a step to use, False
padding; a sequence ``(batch, steps, features)`` has a ``(batch, steps)`` mask.

- **Into ``call``.**  When a layer's ``call`` has a ``mask`` parameter, the caller did not pass one (or
  passed None) and some input carries a mask, ``call`` receives ``mask=``: the input's mask for one tensor,
  a list (or dict) of masks, None where an input has none, for a list (or dict) of tensors.
- **Out of the call.**  A layer whose ``supports_masking`` is true gives each output that does not carry a
  mask yet ``compute_mask(inputs, mask)`` (one mask, or one per output; ``mask`` is the one passed to
  ``call`` or else the inputs' masks).  ``Layer.compute_mask`` returns ``mask`` unchanged, and
  ``supports_masking`` defaults to true exactly when the class overrides ``compute_mask``; layers that
  only pass masks on (Dense, Dropout, the activations, the normalisations...) set it.  A layer that does
  not support masking drops the mask, with a warning; an output that *is* its input keeps the input's.
- **Models.**  Sequential and functional models run their layers on Tensors, so masks flow through them,
  nested models included; ``model(x, mask=...)`` attaches a mask to the input(s) first.  Losses and the
  mean metrics leave masked entries out (``nnkit.losses.output_mask``).  The plans run a model with a
  layer that makes masks (``Layer.creates_masks``) eagerly.
"""
import numbers

import numpy as np

from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.registry import register
from nnkit.tensor import Tensor, set_keras_mask


@register
class Masking(Layer):
    """Mask the steps whose features all equal ``mask_value``: the output is the input with those steps set
    to 0, and carries the mask (True where some feature differs), over every axis but the last, as Keras."""

    _supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise self._error(f"mask_value must be a number, got {mask_value!r}", TypeError)
        self.mask_value = float(mask_value)

    def _keep(self, inputs):
        data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        if data.ndim < 2:
            raise self._error(f"expects inputs (batch, ..., features), got shape {data.shape}")
        return np.any(data != self.mask_value, axis=-1)

    def call(self, inputs):
        keep = self._keep(inputs)
        out = ops.where(keep[..., None], inputs, Tensor(np.zeros((), inputs.dtype)))
        set_keras_mask(out, keep)
        return out

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
