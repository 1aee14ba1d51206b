"""BatchNormalization, LayerNormalization and GroupNormalization with Keras's arguments and defaults."""
import numpy as np

from nnkit import functional as F
from nnkit import initializers as nninitializers
from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import format_shape
from nnkit.tensor import Tensor, as_tensor


@register
class BatchNormalization(Layer):
    """Normalise over the batch (and spatial) axes, per feature on the last axis.

    Training (``training=True`` and the layer trainable): batch statistics,
    and ``moving = momentum * moving + (1 - momentum) * batch``.  Otherwise the
    moving statistics.  A frozen layer (``trainable=False``) always runs in
    inference mode, as in Keras, which is what fine-tuning needs.

    Weights: ``gamma`` (if ``scale``) and ``beta`` (if ``center``) are trained;
    ``moving_mean`` and ``moving_variance`` are non-trainable state.

    With a mask (``Embedding(mask_zero=True)`` upstream, or ``mask=``, one axis less than the input), training
    takes the batch statistics over the unmasked entries only, as Keras 3 does (``sum / (count + 1e-7)``); the
    mask passes on.
    """
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, [-1], (-1,)) and not isinstance(axis, int):
            raise self._error(f"axis must be an int, got {axis!r}")
        self.axis = axis if isinstance(axis, int) else -1
        if not 0 <= momentum <= 1:
            raise self._error(f"momentum must be in [0, 1], got {momentum}")
        if epsilon <= 0:
            raise self._error(f"epsilon must be positive, got {epsilon}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = self._initializer(beta_initializer, "beta_initializer")
        self.gamma_initializer = self._initializer(gamma_initializer, "gamma_initializer")
        self.moving_mean_initializer = self._initializer(moving_mean_initializer, "moving_mean_initializer")
        self.moving_variance_initializer = self._initializer(moving_variance_initializer,
                                                             "moving_variance_initializer")
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        rank = len(input_shape)
        if self.axis not in (-1, rank - 1):
            raise self._error(f"only the last (channels) axis can be normalised, got axis={self.axis} for "
                              f"input {format_shape(input_shape)}")
        features = input_shape[-1]
        if features is None or rank < 2:
            raise self._error(f"needs a known feature size on the last axis, got {format_shape(input_shape)}")
        shape = (features,)
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)
        self._ones, self._zeros = np.ones(shape, self.dtype), np.zeros(shape, self.dtype)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: features})

    def call(self, inputs, training=None, mask=None):
        gamma = self.gamma if self.scale else self._ones
        beta = self.beta if self.center else self._zeros
        training = bool(training) and self.trainable
        if mask is not None:
            mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask, bool)
            if mask.shape != inputs.shape[:-1]:
                raise self._error(f"the mask must have the input's shape without its channels, "
                                  f"{inputs.shape[:-1]}, got {mask.shape}")
            if training:
                return self._masked_training(inputs, mask, as_tensor(gamma), as_tensor(beta))
        return F.batch_norm(inputs, gamma, beta, self.moving_mean, self.moving_variance,
                            training=training, momentum=self.momentum, eps=self.epsilon)

    def _masked_training(self, x, mask, gamma, beta):
        """Batch statistics over the unmasked entries (Keras 3's masked moments), then the usual update."""
        axes = tuple(range(x.ndim - 1))
        weights = np.broadcast_to(mask[..., None], x.shape).astype(x.dtype)
        count = Tensor(weights.sum(axis=axes) + x.dtype.type(1e-7))  # Keras's backend epsilon
        weights = Tensor(weights)
        mean = ops.sum(x * weights, axis=axes) / count
        centred = x - mean
        spread = centred * weights
        var = ops.sum(spread * spread, axis=axes) / count
        F.update_running_moments(self.moving_mean.data, self.moving_variance.data,
                                 {"mean": mean.data, "var": var.data}, self.momentum)
        return centred / ops.sqrt(var + self.epsilon) * gamma + beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                **{key: nninitializers.serialize(getattr(self, key)) for key in (
                    "beta_initializer", "gamma_initializer", "moving_mean_initializer",
                    "moving_variance_initializer")}}


@register
class LayerNormalization(Layer):
    """Normalise each sample over ``axis`` (an int or a list; default the last): ``(x - mean) / sqrt(var + eps)``
    with the biased variance, then ``* gamma + beta``, gamma and beta shaped like those axes (Keras 3's
    defaults: ``epsilon=1e-3``, ``center`` and ``scale`` on).  No running statistics: training and
    inference compute the same."""
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
            raise self._error(f"axis must be an int or a list of ints, got {axis!r}")
        if epsilon <= 0:
            raise self._error(f"epsilon must be positive, got {epsilon}")
        if rms_scaling:
            raise self._error("rms_scaling=True is not supported")
        self.axis = axis if isinstance(axis, (int, np.integer)) else [int(a) for a in axes]
        self._axes_given = [int(a) for a in axes]
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.beta_initializer = self._initializer(beta_initializer, "beta_initializer")
        self.gamma_initializer = self._initializer(gamma_initializer, "gamma_initializer")

    def _axes(self, rank):
        axes = sorted({a % rank for a in self._axes_given})
        if any(not -rank <= a < rank for a in self._axes_given) or 0 in axes:
            raise self._error(f"axis {self.axis} is out of range (or the batch axis) for an input of rank {rank}")
        return axes

    def build(self, input_shape):
        rank = len(input_shape)
        axes = self._axes(rank)
        if any(input_shape[a] is None for a in axes):
            raise self._error(f"the normalised axes {axes} must have known sizes, got {format_shape(input_shape)}")
        # gamma and beta broadcast over the other axes: the normalised axes' sizes, in order
        shape = tuple(input_shape[a] for a in axes)
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer) if self.center else None

    def call(self, inputs):
        rank = inputs.ndim
        axes = tuple(self._axes(rank))
        mean = inputs.mean(axis=axes, keepdims=True)
        centred = inputs - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        y = centred / ops.sqrt(var + self.epsilon)
        expand = tuple(inputs.shape[a] if a in axes else 1 for a in range(rank))
        if self.gamma is not None:
            y = y * ops.reshape(self.gamma, expand)
        if self.beta is not None:
            y = y + ops.reshape(self.beta, expand)
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "beta_initializer": nninitializers.serialize(self.beta_initializer),
                "gamma_initializer": nninitializers.serialize(self.gamma_initializer)}


@register
class GroupNormalization(Layer):
    """Normalise each sample over groups of channels, Keras 3's layer: the ``axis`` channels split into
    ``groups`` groups of consecutive channels; each (sample, group) is normalised over its channels and every
    other non-batch axis with its own mean and biased variance, ``(x - mean) / sqrt(var + epsilon)``, then
    ``* gamma + beta`` per channel.  ``groups=-1`` is one group per channel (instance normalisation) and
    ``groups=1`` layer normalisation over all features.  No running statistics."""

    _supports_masking = True  # passes masks on unchanged (Keras 3)
    penalized_weights = {"gamma": "gamma", "beta": "beta"}

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or (groups <= 0 and groups != -1):
            raise self._error(f"groups must be a positive int, or -1 for instance normalisation, got {groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise self._error(f"axis must be an int, got {axis!r}")
        if not epsilon > 0:
            raise self._error(f"epsilon must be positive, got {epsilon}")
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = self._initializer(beta_initializer, "beta_initializer")
        self.gamma_initializer = self._initializer(gamma_initializer, "gamma_initializer")

    def _channel_axis(self, rank):
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise self._error(f"axis {self.axis} is out of range (or the batch axis) for an input of rank {rank}")
        return self.axis % rank

    def build(self, input_shape):
        axis = self._channel_axis(len(input_shape))
        channels = input_shape[axis]
        if channels is None:
            raise self._error(f"axis {self.axis} must have a known size, got {format_shape(input_shape)}")
        if self.groups == -1:
            self.groups = channels  # as Keras: the config then records the channel count
        if channels < self.groups or channels % self.groups:
            raise self._error(f"groups={self.groups} must divide the {channels} channels on axis {self.axis} of "
                              f"{format_shape(input_shape)}")
        self.gamma = self.add_weight("gamma", (channels,), self.gamma_initializer) if self.scale else None
        self.beta = self.add_weight("beta", (channels,), self.beta_initializer) if self.center else None
        self.input_spec = InputSpec(ndim=len(input_shape), axes={axis: channels})

    def call(self, inputs):
        rank = inputs.ndim
        axis = self._channel_axis(rank)
        order = [a for a in range(rank) if a != axis] + [axis]  # channels last, to reduce over contiguous rows
        x = inputs if axis == rank - 1 else ops.transpose(inputs, order)
        shape = x.shape
        batch, channels, groups = shape[0], shape[-1], self.groups
        size = channels // groups
        rows = int(np.prod(shape[1:-1], dtype=np.int64))
        count = x.dtype.type(rows * size)

        def group_sum(t):  # (batch, rows, channels) -> (batch, groups): rows first, then within each group
            return ops.sum(ops.reshape(ops.sum(t, axis=1), (batch, groups, size)), axis=-1)

        flat = ops.reshape(x, (batch, rows, channels))
        mean = group_sum(flat) / count
        centred = ops.reshape(flat, (batch, rows, groups, size)) - ops.reshape(mean, (batch, 1, groups, 1))
        var = group_sum(ops.reshape(centred * centred, (batch, rows, channels))) / count
        y = centred / ops.sqrt(ops.reshape(var, (batch, 1, groups, 1)) + self.epsilon)
        y = ops.reshape(y, shape)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y if axis == rank - 1 else ops.transpose(y, np.argsort(order))

    def compute_output_shape(self, input_shape):
        self._channel_axis(len(input_shape))
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": nninitializers.serialize(self.beta_initializer),
                "gamma_initializer": nninitializers.serialize(self.gamma_initializer)}
