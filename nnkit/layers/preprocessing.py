"""Preprocessing layers: Rescaling, Normalization, Resizing and CenterCrop (channels-last).

They behave the same in training and inference, have no trainable weights
(Normalization keeps its adapted mean and variance as non-trainable ones, so
they are saved with the model) and are differentiable in their input.
"""
import numbers

import numpy as np

from nnkit import image, ops
from nnkit.layers.arguments import positive_int
from nnkit.layers.base import Layer
from nnkit.layers.convolutional import _data_format
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import batchless, format_shape
from nnkit.tensor import Tensor

EPSILON = 1e-7  # keras.backend.epsilon(): the smallest standard deviation Normalization divides by


def _number_or_list(layer, name, value):
    """A float, or a list of floats (broadcast against the channels), as it goes into the config."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    try:
        values = [float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1)]
    except (TypeError, ValueError):
        values = None
    if not values or not np.all(np.isfinite(values)):
        raise layer._error(f"{name} must be a finite number or a list of them, got {value!r}")
    return values


@register
class Rescaling(Layer):
    """``inputs * scale + offset`` (e.g. ``Rescaling(1 / 255)`` maps [0, 255] to [0, 1]).

    ``scale`` and ``offset`` are numbers or per-channel lists.
    """
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_list(self, "scale", scale)
        self.offset = _number_or_list(self, "offset", offset)

    def call(self, inputs):
        dtype = inputs.dtype
        return inputs * np.asarray(self.scale, dtype) + np.asarray(self.offset, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@register
class Normalization(Layer):
    """``(inputs - mean) / max(sqrt(variance), 1e-7)`` per feature along ``axis`` (Keras's layer).

    Parameters
    ----------
    axis : int, tuple of ints or None
        The axes that keep their own statistics (default the last: one mean
        per channel); ``None``: one scalar mean and variance.
    mean, variance : numbers or arrays, optional
        Fixed statistics (broadcast to the kept axes); otherwise call
        ``adapt(data)`` before use.  Adapted statistics are the non-trainable
        weights ``mean`` and ``variance``.
    invert : bool
        Undo a normalisation instead: ``mean + inputs * max(sqrt(variance), 1e-7)``.
    """
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            self.axis = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = (int(axis),)
        elif isinstance(axis, (tuple, list)) and all(isinstance(a, (int, np.integer)) for a in axis):
            self.axis = tuple(int(a) for a in axis)
        else:
            raise self._error(f"axis must be an int, a tuple of ints or None, got {axis!r}")
        if (mean is None) != (variance is None):
            raise self._error("pass both mean and variance, or neither (and call adapt())")
        self.input_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        if self.input_variance is not None and (np.any(self.input_variance < 0) or
                                                not np.all(np.isfinite(self.input_variance))):
            raise self._error(f"variance must be finite and non-negative, got {variance!r}")
        self.invert = bool(invert)

    def _keep_axes(self, input_shape):
        rank = len(input_shape)
        keep = []
        for a in self.axis:
            if not -rank <= a < rank or a % rank == 0:
                raise self._error(f"axis {a} is out of range for input {format_shape(input_shape)} (the batch "
                                  f"axis 0 cannot be kept)")
            keep.append(a % rank)
        if len(set(keep)) != len(keep):
            raise self._error(f"axis {self.axis} names an axis twice")
        return tuple(sorted(keep))

    def build(self, input_shape):
        self._keep = self._keep_axes(input_shape)
        shape = tuple(input_shape[a] for a in self._keep)
        if any(v is None for v in shape):
            raise self._error(f"the normalised axes {self._keep} of input {format_shape(input_shape)} must have "
                              f"known sizes")
        self._broadcast = tuple(input_shape[a] if a in self._keep else 1 for a in range(len(input_shape)))
        if self.input_mean is None:
            self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.variance = self.add_weight("variance", shape, "ones", trainable=False)
        else:
            try:
                self._fixed = tuple(np.broadcast_to(v, shape) for v in (self.input_mean, self.input_variance))
            except ValueError:
                raise self._error(f"mean {self.input_mean.shape} and variance {self.input_variance.shape} do not "
                                  f"broadcast to the normalised shape {shape}") from None
        self.input_spec = InputSpec(ndim=len(input_shape), axes={a: input_shape[a] for a in self._keep})

    def _statistics(self):
        if self.input_mean is not None:
            return self._fixed
        return self.mean.data, self.variance.data

    def call(self, inputs):
        mean, variance = self._statistics()
        dtype = inputs.dtype
        mean = mean.reshape(self._broadcast).astype(dtype)
        std = np.maximum(np.sqrt(variance), EPSILON).reshape(self._broadcast).astype(dtype)
        if self.invert:
            return inputs * std + mean
        return (inputs - mean) * (1 / std)

    def compute_output_shape(self, input_shape):
        return input_shape

    def adapt(self, data, batch_size=None, steps=None):
        """Set the mean and variance from ``data``: an array (or Tensor), an nnkit data
        source, or any iterable of batches (``x`` or ``(x, y, ...)`` items).

        Statistics are accumulated in float64, batch by batch (Chan et al.'s
        parallel update), so the data need not fit in memory; ``steps`` caps
        the number of batches read.
        """
        if self.input_mean is not None:
            raise self._error("adapt: this layer was given a fixed mean and variance", RuntimeError)
        count, mean, m2 = 0, None, None
        for step, batch in enumerate(_batches(self, data, batch_size)):
            if steps is not None and step >= steps:
                break
            x = np.asarray(batch, dtype=np.float64)
            if not self.built:
                self._maybe_build(batchless(x.shape))
            if x.ndim != len(self._broadcast) or any(x.shape[a] != self._broadcast[a] for a in self._keep):
                raise self._error(f"adapt: a batch of shape {x.shape} does not match the layer's input "
                                  f"{format_shape(self._build_shape)}")
            axes = tuple(a for a in range(x.ndim) if a not in self._keep)
            n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
            if n == 0:
                continue
            b_mean = x.mean(axis=axes, keepdims=True)
            b_m2 = ((x - b_mean) ** 2).sum(axis=axes, keepdims=True)
            if mean is None:
                count, mean, m2 = n, b_mean, b_m2
            else:
                total = count + n
                delta = b_mean - mean
                mean = mean + delta * (n / total)
                m2 = m2 + b_m2 + delta ** 2 * (count * n / total)
                count = total
        if mean is None:
            raise self._error("adapt: the data held no samples", ValueError)
        shape = self.mean.shape
        self.mean.data[...] = mean.reshape(shape)
        self.variance.data[...] = (m2 / count).reshape(shape)

    def get_config(self):
        axis = None if not self.axis else (self.axis[0] if len(self.axis) == 1 else list(self.axis))
        return {**super().get_config(), "axis": axis, "invert": self.invert,
                "mean": None if self.input_mean is None else self.input_mean.tolist(),
                "variance": None if self.input_variance is None else self.input_variance.tolist()}


def _batches(layer, data, batch_size):
    """The x arrays of ``data``, batch by batch (duck-typed: nnkit's data layer sits above the layers)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, list)) and not (isinstance(data, list) and data and
                                                     isinstance(data[0], tuple)):
        data = np.asarray(data)
        size = len(data) if batch_size is None else int(batch_size)
        for start in range(0, len(data), max(size, 1)):
            yield data[start:start + size]
        return
    if hasattr(data, "take") and getattr(data, "num_samples", None) is not None:  # a finite nnkit Source
        size = int(batch_size or 1024)
        for start in range(0, data.num_samples, size):
            yield data.take(np.arange(start, min(start + size, data.num_samples)))[0]
        return
    if hasattr(data, "new_pass"):  # an nnkit GeneratorSource
        data = data.new_pass()
    elif hasattr(data, "__len__") and hasattr(data, "__getitem__") and not hasattr(data, "__iter__"):
        indexed = data
        data = (indexed[i] for i in range(len(indexed)))  # an nnkit Dataset (Keras's PyDataset): indexed batches
    elif callable(data) and not hasattr(data, "__next__"):
        data = data()
    if not hasattr(data, "__iter__"):
        raise layer._error(f"adapt: cannot read batches from {type(data).__name__}; pass an array, an nnkit "
                           f"data source or an iterable of batches", TypeError)
    for item in data:
        item = item[0] if isinstance(item, tuple) else item
        yield item.data if isinstance(item, Tensor) else item


class _ImageResize(Layer):
    """Shared by Resizing and CenterCrop: a 4-D input and a fixed (height, width) output."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        _data_format(self, data_format)
        self.height = positive_int(self, "height", height)
        self.width = positive_int(self, "width", width)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@register
class Resizing(_ImageResize):
    """Resize images to (height, width): TensorFlow's half-pixel-centre resize, no antialiasing.

    ``interpolation``: ``'bilinear'`` (default) or ``'nearest'``;
    ``crop_to_aspect_ratio`` first takes the largest centred box with the
    target's aspect ratio; ``pad_to_aspect_ratio`` instead pads a centred
    canvas with ``fill_value`` (``fill_mode='constant'``, the only mode Keras has).
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(height, width, data_format, **kwargs)
        if interpolation not in image.RESIZE_METHODS:
            raise self._error(f"unknown or unsupported interpolation {interpolation!r}; valid choices: "
                              f"{', '.join(image.RESIZE_METHODS)}")
        if fill_mode != "constant":
            raise self._error(f"fill_mode must be 'constant', got {fill_mode!r}")
        if antialias:
            raise self._error("antialias=True is not implemented (nnkit resizes without antialiasing, "
                              "Keras's default)", NotImplementedError)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise self._error("crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be True")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)

    def call(self, inputs):
        return image.resize(inputs, (self.height, self.width), self.interpolation,
                            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                            pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_value=self.fill_value)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio, "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                "fill_mode": self.fill_mode, "fill_value": self.fill_value, "antialias": False}


@register
class CenterCrop(_ImageResize):
    """The centred (height, width) window (its corner at ``(H - height) // 2``, ``(W - width) // 2``).

    An image smaller than the window along either axis is instead cropped to
    the target's aspect ratio and resized bilinearly (Keras's ``smart_resize``).
    """

    def call(self, inputs):
        h, w = inputs.shape[1:3]
        if h >= self.height and w >= self.width:
            top, left = (h - self.height) // 2, (w - self.width) // 2
            return ops.getitem(inputs, (slice(None), slice(top, top + self.height),
                                        slice(left, left + self.width)))
        return image.resize(inputs, (self.height, self.width), "bilinear", crop_to_aspect_ratio=True)
