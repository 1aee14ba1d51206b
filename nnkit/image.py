"""Differentiable image ops on channels-last batches (N, H, W, C), as ``keras.ops.image``.

- ``affine_transform``: projective resampling through the ``affine`` kernels
  (rotation, zoom and translation are built on it);
- ``resize``: bilinear or nearest, TensorFlow's half-pixel-centre semantics
  without antialiasing, with ``crop_to_aspect_ratio``/``pad_to_aspect_ratio``;
- ``crop_to_aspect_ratio``, ``pad_to_aspect_ratio``: Keras's centred boxes.

``resize`` is separable and linear: ``y = A_h x A_w^T`` per image and
channel, two batched matrix products (no loop over images), whose transposes
are the gradient.
"""
import numpy as np

from nnkit import backend, ops
from nnkit.backend.reference.affine import FILL_MODES, INTERPOLATIONS
from nnkit.backend.validate import positive_pair
from nnkit.tensor import Function, Tensor, as_tensor

__all__ = ["affine_transform", "resize", "crop_to_aspect_ratio", "pad_to_aspect_ratio", "RESIZE_METHODS",
           "FILL_MODES", "INTERPOLATIONS"]

RESIZE_METHODS = ("bilinear", "nearest")


def _images(op, x):
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D channels-last batch (batch, height, width, channels), "
                         f"got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected float32 or float64 images, got {x.dtype}")
    return x


# -- affine -----------------------------------------------------------------------
class AffineTransform(Function):
    def forward(self, x, transforms, interpolation, fill_mode, fill_value):
        self.kernels = backend.current()
        self.shape, self.transforms = x.shape, transforms
        self.interpolation, self.fill_mode = interpolation, fill_mode
        return self.kernels.affine_forward(x, transforms, None, interpolation, fill_mode, fill_value)

    def backward(self, g):
        return (self.kernels.affine_backward(g, self.transforms, self.shape, self.interpolation, self.fill_mode),)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """Resample ``images`` (N, H, W, C) through projective transforms.

    ``transform`` is ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (shared) or one such
    row per image (N, 8): output pixel (row y, column x) reads the input at
    ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y + 1``.
    ``interpolation``: ``'bilinear'`` or ``'nearest'``; ``fill_mode``:
    ``'constant'`` (Keras's default here), ``'reflect'``, ``'wrap'`` or
    ``'nearest'``.  Differentiable in ``images`` (not in ``transform``).
    """
    x = _images("affine_transform", images)
    t = transform.data if isinstance(transform, Tensor) else transform
    return AffineTransform.apply(x, transforms=t, interpolation=interpolation, fill_mode=fill_mode,
                                 fill_value=fill_value)


# -- resize -------------------------------------------------------------------------
def interpolation_matrix(in_size, out_size, method):
    """(out_size, in_size) float64 weights of one axis of a half-pixel-centre resize.

    bilinear: output ``i`` reads ``(i + 0.5) * in / out - 0.5``, clamped to the
    edge pixels; nearest: input ``floor((i + 0.5) * in / out)`` (exact integer
    arithmetic), as TensorFlow's ``resize`` with ``half_pixel_centers``.
    """
    rows = np.arange(out_size)
    a = np.zeros((out_size, in_size))
    if method == "nearest":
        a[rows, np.minimum((2 * rows + 1) * in_size // (2 * out_size), in_size - 1)] = 1.0
        return a
    src = (rows + 0.5) * (in_size / out_size) - 0.5
    low = np.floor(src)
    frac = src - low
    low = low.astype(np.int64)
    np.add.at(a, (rows, np.clip(low, 0, in_size - 1)), 1.0 - frac)
    np.add.at(a, (rows, np.clip(low + 1, 0, in_size - 1)), frac)
    return a


class Resize(Function):
    def forward(self, x, ah, aw):
        self.ah, self.aw = ah.astype(x.dtype), aw.astype(x.dtype)
        self.shape = x.shape
        n, h, w, c = x.shape
        y = np.matmul(self.ah, x.reshape(n, h, w * c)).reshape(n, -1, w, c)  # rows: (OH, H) @ (H, W*C)
        return np.ascontiguousarray(np.matmul(self.aw, y))  # columns: (OW, W) @ (N, OH, W, C)

    def backward(self, g):
        n, h, w, c = self.shape
        gy = np.matmul(self.aw.T, g)  # (N, OH, W, C)
        return (np.matmul(self.ah.T, gy.reshape(n, -1, w * c)).reshape(self.shape),)


def crop_to_aspect_ratio(images, size):
    """The centred largest box of ``images`` with the aspect ratio of ``size`` (Keras's arithmetic)."""
    x = _images("crop_to_aspect_ratio", images)
    th, tw = positive_pair("crop_to_aspect_ratio", "size", size)
    h, w = x.shape[1:3]
    crop_h = max(min(h, w * th // tw), 1)
    crop_w = max(min(w, h * tw // th), 1)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    if (crop_h, crop_w) == (h, w):
        return x
    return x[:, top:top + crop_h, left:left + crop_w, :]


def pad_to_aspect_ratio(images, size, fill_value=0.0):
    """``images`` centred on the smallest canvas (filled with ``fill_value``) with ``size``'s aspect ratio."""
    x = _images("pad_to_aspect_ratio", images)
    th, tw = positive_pair("pad_to_aspect_ratio", "size", size)
    n, h, w, c = x.shape
    pad_h, pad_w = max(h, w * th // tw), max(w, h * tw // th)
    if (pad_h, pad_w) == (h, w):
        return x
    top, left = (pad_h - h) // 2, (pad_w - w) // 2
    for axis, before, total in ((1, top, pad_h), (2, left, pad_w)):
        after = total - x.shape[axis] - before
        pieces = []
        for extent in (before, None, after):
            if extent is None:
                pieces.append(x)
            elif extent:
                shape = list(x.shape)
                shape[axis] = extent
                pieces.append(np.full(shape, fill_value, x.dtype))
        x = ops.concatenate(pieces, axis=axis) if len(pieces) > 1 else x
    return x


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_value=0.0):
    """``images`` (N, H, W, C) resized to ``size`` (height, width).

    Half-pixel centres, no antialiasing (``antialias=True`` is not
    implemented and raises), as ``keras.ops.image.resize``'s defaults; the
    aspect-ratio options crop (or pad) a centred box first.  Differentiable.
    """
    x = _images("resize", images)
    oh, ow = positive_pair("resize", "size", size)
    if interpolation not in RESIZE_METHODS:
        raise ValueError(f"resize: unknown or unsupported interpolation {interpolation!r}; valid choices: "
                         f"{', '.join(RESIZE_METHODS)}")
    if antialias:
        raise NotImplementedError("resize: antialias=True is not implemented; nnkit resizes without "
                                  "antialiasing (Keras's default)")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("resize: crop_to_aspect_ratio and pad_to_aspect_ratio cannot both be True")
    if crop_to_aspect_ratio:
        x = _crop(x, (oh, ow))
    elif pad_to_aspect_ratio:
        x = _pad(x, (oh, ow), fill_value)
    h, w = x.shape[1:3]
    if (h, w) == (oh, ow):
        return x
    return Resize.apply(x, ah=interpolation_matrix(h, oh, interpolation),
                        aw=interpolation_matrix(w, ow, interpolation))


_crop, _pad = crop_to_aspect_ratio, pad_to_aspect_ratio  # resize's arguments shadow the names
