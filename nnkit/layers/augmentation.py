"""Random image augmentation layers (Keras 3's names, arguments and defaults), channels-last.

Each layer changes its input only while training (``model.fit``, or a call
with ``training=True``) and returns it unchanged otherwise (RandomCrop's
inference output is the centred crop, resized: its output has a fixed size).
Random draws come from nnkit's generator (``nnkit.set_seed`` makes runs
reproducible) unless ``seed`` gives the layer its own.  One draw per image:
a batch is transformed at once, by the ``affine`` kernels (rotation, zoom,
translation) or by whole-batch array ops, never by a loop over images.

The layers are differentiable in their input (the resampling's adjoint),
though, as in Keras, nothing usually trains through them.
"""
import numbers

import numpy as np

from nnkit import image, ops
from nnkit import random as nnrandom
from nnkit.layers.arguments import positive_int
from nnkit.layers.base import Layer
from nnkit.layers.convolutional import _data_format
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register


def factor_range(layer, name, factor, low=-1.0, high=1.0):
    """Keras's reading of a factor: ``f`` means ``(-|f|, |f|)`` clipped to [low, high]; a pair is sorted.

    Every value must lie in [low, high].
    """
    if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        values = (float(factor),)
    elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in factor):
        values = tuple(float(v) for v in factor)
    else:
        raise layer._error(f"{name} must be a number or a pair (lower, upper) of numbers in [{low}, {high}], "
                           f"got {factor!r}")
    if not all(low <= v <= high for v in values):
        raise layer._error(f"{name} values must lie in [{low}, {high}], got {factor!r}")
    if len(values) == 1:
        return max(-abs(values[0]), low), abs(values[0])
    return tuple(sorted(values))


def _choice(layer, name, value, choices):
    if value not in choices:
        raise layer._error(f"unknown {name} {value!r}; valid choices: {', '.join(choices)}")
    return value


def _value_range(layer, value_range):
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not low < high:
        raise layer._error(f"value_range must be a pair (low, high) with low < high, got {value_range!r}")
    return low, high


class _Augmentation(Layer):
    """The training switch and the generator shared by the random layers."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        _data_format(self, data_format)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise self._error(f"seed must be None or an int, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.input_spec = InputSpec(ndim=4)

    def rng(self):
        return self._rng or nnrandom.get_rng()

    def call(self, inputs, training=None):
        return self.augment(inputs) if training else inputs

    def augment(self, inputs):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class _AffineAugmentation(_Augmentation):
    """Shared by the layers that resample through a random transform per image."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed, data_format, **kwargs)
        self.fill_mode = _choice(self, "fill_mode", fill_mode, image.FILL_MODES)
        self.interpolation = _choice(self, "interpolation", interpolation, image.INTERPOLATIONS)
        self.fill_value = float(fill_value)

    def augment(self, inputs):
        n, h, w, _ = inputs.shape
        return image.affine_transform(inputs, self.transforms(n, h, w), self.interpolation, self.fill_mode,
                                      self.fill_value)

    def transforms(self, n, h, w):
        """(n, 8) random transforms for images of h x w."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


@register
class RandomFlip(_Augmentation):
    """Flip each image with probability 1/2: ``mode`` ``'horizontal'`` (left-right),
    ``'vertical'`` (top-bottom) or ``'horizontal_and_vertical'`` (default).

    As Keras 3, one coin per image decides both flips in the last mode (the
    image is flipped both ways, or not at all).
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed, data_format, **kwargs)
        self.mode = _choice(self, "mode", mode, self.MODES)

    def augment(self, inputs):
        n, h, w = inputs.shape[:3]
        flip = self.rng().random(n)[:, None] <= 0.5
        rows, cols = np.broadcast_to(np.arange(h), (n, h)), np.broadcast_to(np.arange(w), (n, w))
        if self.mode != "horizontal":
            rows = np.where(flip, rows[:, ::-1], rows)
        if self.mode != "vertical":
            cols = np.where(flip, cols[:, ::-1], cols)
        return ops.getitem(inputs, (np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]))  # one gather

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@register
class RandomRotation(_AffineAugmentation):
    """Rotate each image about its centre by an angle drawn uniformly from
    ``factor * 2 pi`` radians: ``factor=0.1`` means [-36, 36] degrees, a pair
    ``(lower, upper)`` that range; positive angles turn counter-clockwise.

    ``fill_mode`` (``'reflect'``, ``'wrap'``, ``'constant'``, ``'nearest'``)
    says what the corners show; ``interpolation`` is ``'bilinear'`` or ``'nearest'``.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor_range(self, "factor", factor)

    def transforms(self, n, h, w):
        lower, upper = self.factor
        angle = self.rng().uniform(lower * 2 * np.pi, upper * 2 * np.pi, n)
        return rotation_transforms(angle, h, w)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


def rotation_transforms(angles, h, w):
    """(n, 8) transforms rotating h x w images about their centre by ``angles`` (radians)."""
    cos, sin = np.cos(angles), np.sin(angles)
    x_offset = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2.0
    y_offset = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2.0
    zeros = np.zeros_like(cos)
    return np.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)


@register
class RandomZoom(_AffineAugmentation):
    """Zoom each image about its centre: the sampled region's size is
    ``1 + u`` times the image's, ``u`` uniform in ``height_factor`` (a number
    ``f`` meaning [-f, f], or a pair): positive values zoom out, negative in.
    ``width_factor=None`` keeps the aspect ratio (one draw for both axes).
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = factor_range(self, "height_factor", height_factor)
        self.width_factor = None if width_factor is None else factor_range(self, "width_factor", width_factor)

    def transforms(self, n, h, w):
        rng = self.rng()
        zoom_h = 1.0 + rng.uniform(*self.height_factor, n)
        zoom_w = zoom_h if self.width_factor is None else 1.0 + rng.uniform(*self.width_factor, n)
        zeros = np.zeros(n)
        return np.stack([zoom_w, zeros, (w - 1) / 2.0 * (1 - zoom_w),
                         zeros, zoom_h, (h - 1) / 2.0 * (1 - zoom_h), zeros, zeros], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": None if self.width_factor is None else list(self.width_factor)}


@register
class RandomTranslation(_AffineAugmentation):
    """Shift each image by fractions of its size drawn uniformly from
    ``height_factor`` and ``width_factor`` (a number ``f`` meaning [-f, f], or
    a pair): positive values move the content down and right.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = factor_range(self, "height_factor", height_factor)
        self.width_factor = factor_range(self, "width_factor", width_factor)

    def transforms(self, n, h, w):
        rng = self.rng()
        dy = rng.uniform(*self.height_factor, n) * h
        dx = rng.uniform(*self.width_factor, n) * w
        ones, zeros = np.ones(n), np.zeros(n)
        return np.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": list(self.width_factor)}


@register
class RandomCrop(_Augmentation):
    """Crop a random (height, width) window while training, at one offset for
    the whole batch (as Keras).  In inference, and in training when an image
    is smaller than the window, the largest centred window with the target's
    aspect ratio is resized to (height, width) (bilinear), as Keras documents.
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed, data_format, **kwargs)
        self.height, self.width = positive_int(self, "height", height), positive_int(self, "width", width)

    def call(self, inputs, training=None):
        h, w = inputs.shape[1:3]
        if training and h >= self.height and w >= self.width:
            rng = self.rng()
            top = int(rng.integers(0, h - self.height + 1))
            left = int(rng.integers(0, w - self.width + 1))
            return ops.getitem(inputs, (slice(None), slice(top, top + self.height), slice(left, left + self.width)))
        return image.resize(inputs, (self.height, self.width), "bilinear", crop_to_aspect_ratio=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@register
class RandomContrast(_Augmentation):
    """``(x - mean) * c + mean`` per image and channel (the mean over height and
    width), ``c`` uniform in [1 - lower, 1 + upper]: ``factor=f`` means
    lower = upper = f, a pair gives both; then clipped to ``value_range``.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed, None, **kwargs)
        pair = tuple(factor) if isinstance(factor, (tuple, list)) else (factor, factor)
        if len(pair) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v <= 1
                                     for v in pair):
            raise self._error(f"factor must be a number or a pair (lower, upper) of numbers in [0, 1], "
                              f"got {factor!r}")
        self.factor = [float(v) for v in pair] if isinstance(factor, (tuple, list)) else float(factor)
        self.lower, self.upper = (float(v) for v in pair)
        self.value_range = _value_range(self, value_range)

    def augment(self, inputs):
        c = self.rng().uniform(1.0 - self.lower, 1.0 + self.upper, (inputs.shape[0], 1, 1, 1)).astype(inputs.dtype)
        mean = ops.mean(inputs, axis=(1, 2), keepdims=True)
        return ops.clip((inputs - mean) * c + mean, *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


@register
class RandomBrightness(_Augmentation):
    """Add ``u * (high - low)`` to each image, ``u`` uniform in ``factor`` (a
    number ``f`` meaning [-f, f], or a pair, within [-1, 1]), then clip to
    ``value_range = (low, high)``.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed, None, **kwargs)
        self.factor = factor_range(self, "factor", factor)
        self.value_range = _value_range(self, value_range)

    def augment(self, inputs):
        low, high = self.value_range
        delta = self.rng().uniform(*self.factor, (inputs.shape[0], 1, 1, 1)) * (high - low)
        return ops.clip(inputs + delta.astype(inputs.dtype), low, high)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}
