"""Noise and penalty layers: SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, ActivityRegularization.

The noise layers act only while training and are the identity otherwise;
they draw from nnkit's seeded generator (``nnkit.set_seed``) unless ``seed``
gives them their own, as Dropout does.
"""
import numbers

import numpy as np

from nnkit import ops
from nnkit import random as nnrandom
from nnkit.layers.base import Layer
from nnkit.layers.convolutional import _data_format
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register


class _Noise(Layer):
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise self._error(f"seed must be None or an int, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng = None if seed is None else np.random.default_rng(seed)

    def rng(self):
        return self._rng or nnrandom.get_rng()

    def compute_output_shape(self, input_shape):
        return input_shape

    def _number(self, name, value, low, high, high_open=False):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not (
                low <= value and (value < high if high_open else value <= high)):
            raise self._error(f"{name} must be a number in [{low}, {high}{')' if high_open else ']'}, got {value!r}")
        return float(value)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class _SpatialDropout(_Noise):
    """Dropout of whole feature maps (Keras's noise shape ``(batch, 1, ..., 1, channels)``): each
    (sample, channel) is zeroed with probability ``rate`` while training and the kept ones scaled by
    ``1 / (1 - rate)``; the identity otherwise.  Channels last."""

    rank = None  # the input's rank, batch axis included

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = self._number("rate", rate, 0.0, 1.0, high_open=True)
        self.input_spec = InputSpec(ndim=self.rank)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        noise_shape = (inputs.shape[0],) + (1,) * (self.rank - 2) + (inputs.shape[-1],)
        mask = (self.rng().random(noise_shape) < keep) * (1 / keep)
        return inputs * mask.astype(inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@register
class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of a sequence (batch, steps, channels): one draw per (sample, channel)."""
    rank = 3


class _SpatialDropoutND(_SpatialDropout):
    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed, **kwargs)
        _data_format(self, data_format)
        self.data_format = "channels_last"

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@register
class SpatialDropout2D(_SpatialDropoutND):
    """Dropout of whole feature maps of an image (batch, h, w, channels): one draw per (image, channel)."""
    rank = 4


@register
class SpatialDropout3D(_SpatialDropoutND):
    """Dropout of whole feature volumes (batch, d, h, w, channels): one draw per (sample, channel)."""
    rank = 5


@register
class GaussianNoise(_Noise):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` while training."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = self._number("stddev", stddev, 0.0, np.inf)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        return inputs + (self.rng().standard_normal(inputs.shape) * self.stddev).astype(inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


@register
class GaussianDropout(_Noise):
    """Multiply by Gaussian noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))`` while training."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = self._number("rate", rate, 0.0, 1.0, high_open=True)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        std = np.sqrt(self.rate / (1.0 - self.rate))
        return inputs * (1.0 + self.rng().standard_normal(inputs.shape) * std).astype(inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@register
class ActivityRegularization(Layer):
    """The identity, which adds ``l1 * sum(|x|) + l2 * sum(x ** 2)`` of its input to
    ``losses`` (so training minimises it too), as Keras 3 (summed over the batch)."""
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value < np.inf:
                raise self._error(f"{name} must be a finite non-negative number, got {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, inputs):
        penalty = 0.0
        if self.l1:
            penalty = penalty + self.l1 * ops.sum(ops.abs(inputs))
        if self.l2:
            penalty = penalty + self.l2 * ops.sum(ops.square(inputs))
        if self.l1 or self.l2:
            self.add_loss(penalty)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
