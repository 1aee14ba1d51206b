"""Projective (affine) resampling of NHWC images: the pure-NumPy reference.

Keras's ``ops.image.affine_transform``: output pixel (row i, column j) reads
the input at ``x = (a0 j + a1 i + a2) / k``, ``y = (b0 j + b1 i + b2) / k``,
``k = c0 j + c1 i + 1``, pixel centres at integer coordinates.  ``nearest``
rounds half to even (``numpy.round``), ``bilinear`` weighs four neighbours;
each tap's index is folded into the image by the fill mode as Keras's
``map_coordinates`` does (reflect ``dcba|abcd|dcba``, wrap ``abcd|abcd``,
nearest ``aaaa|abcd|dddd``, constant: the tap reads ``fill_value``).

The whole batch is one vectorised gather (and one ``bincount`` scatter for
the adjoint): no loop over images.  The ``check_*`` functions are the
argument checks shared with the Cython backend.
"""
import numpy as np

from ..validate import float_array, image_shape, one_of, positive_pair, scalar_in

__all__ = ["affine_forward", "affine_backward"]

OP = "affine_transform"
INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("reflect", "wrap", "nearest", "constant")  # the order is the kernel's enum


# ----------------------------------------------------------------------------- argument checks

def _choice(name, value, choices):
    """The kernel's enum value of a mode."""
    return choices.index(one_of(OP, name, value, choices))


def check_transforms(transforms, batch, out_size):
    """(N, 8) float64 transforms (an (8,) one is shared by every image) whose projective
    denominator ``c0 j + c1 i + 1`` is positive over the whole output grid."""
    t = np.asarray(transforms, dtype=np.float64) if not isinstance(transforms, np.ndarray) else transforms
    if t.dtype.kind not in "fiu":
        raise TypeError(f"{OP}: expected transforms to be real numbers, got dtype {t.dtype}")
    if t.shape == (8,):
        t = np.broadcast_to(t, (batch, 8))
    if t.shape != (batch, 8):
        raise ValueError(f"{OP}: expected transforms of shape (8,) or ({batch}, 8) (one "
                         f"[a0, a1, a2, b0, b1, b2, c0, c1] per image), got {t.shape}")
    t = np.ascontiguousarray(t, dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{OP}: transforms must be finite, got {t[~np.isfinite(t).all(axis=1)][0]}")
    oh, ow = out_size
    corners = np.array([[0, 0], [0, ow - 1], [oh - 1, 0], [oh - 1, ow - 1]], dtype=np.float64)  # (i, j)
    k = t[:, 6, None] * corners[:, 1] + t[:, 7, None] * corners[:, 0] + 1.0
    if k.size and k.min() <= 0:  # k is linear in (i, j): positive at the corners means positive everywhere
        raise ValueError(f"{OP}: the projective denominator c0 * x + c1 * y + 1 must be positive over the "
                         f"{oh}x{ow} output, got {k.min():g} (transform row {int(np.argmin(k.min(axis=1)))})")
    return t


def check_forward(x, transforms, output_size, interpolation, fill_mode, fill_value):
    """Returns ``(x, transforms, (OH, OW), bilinear, fill_mode_index, fill_value)``."""
    x = float_array(OP, "images", x, ndim=4)
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"{OP}: expected images (N, H, W, C) with H, W >= 1, got shape {x.shape}")
    out = x.shape[1:3] if output_size is None else positive_pair(OP, "output_size", output_size)
    bilinear = _choice("interpolation", interpolation, INTERPOLATIONS) == 1
    mode = _choice("fill_mode", fill_mode, FILL_MODES)
    fill = scalar_in(OP, "fill_value", fill_value, -np.inf, np.inf)
    return x, check_transforms(transforms, x.shape[0], out), out, bilinear, mode, fill


def check_backward(dy, transforms, input_shape, interpolation, fill_mode):
    """Returns ``(dy, transforms, input_shape, bilinear, fill_mode_index)``."""
    dy = float_array(OP, "dy", dy, ndim=4)
    shape = image_shape(OP, "input_shape", input_shape)
    if shape[0] != dy.shape[0] or shape[3] != dy.shape[3] or min(shape[1:3]) < 1:
        raise ValueError(f"{OP}: expected input_shape (N, H, W, C) with dy's N and C and H, W >= 1, "
                         f"got {input_shape!r} for dy of shape {dy.shape}")
    bilinear = _choice("interpolation", interpolation, INTERPOLATIONS) == 1
    mode = _choice("fill_mode", fill_mode, FILL_MODES)
    return dy, check_transforms(transforms, dy.shape[0], dy.shape[1:3]), shape, bilinear, mode


# ----------------------------------------------------------------------------- the resampling

def _mirror(index, size):
    """Keras's triangular-wave fold: ... 2 1 | 0 1 2 ... (s-1) | s-2 ..."""
    s = size - 1
    return np.abs((index + s) % (2 * s) - s) if s else np.zeros_like(index)


def _fold(index, size, mode):
    """(folded index, valid) for one axis, written as Keras writes its index fixers."""
    if mode == 3:  # constant
        valid = (index >= 0) & (index < size)
        return np.where(valid, index, 0), valid
    if mode == 2:  # nearest
        return np.clip(index, 0, size - 1), None
    if mode == 1:  # wrap
        return index % size, None
    return (_mirror(2 * index + 1, 2 * size + 1) - 1) // 2, None  # reflect


def _taps(transforms, in_hw, out_hw, bilinear, mode):
    """For every output pixel, the flat input-pixel offsets it reads (N, OH, OW, T), their
    weights (N, OH, OW, T) and which taps read fill_value instead (None when none can)."""
    (h, w), (oh, ow) = in_hw, out_hw
    t = transforms[:, :, None, None]
    i = np.arange(oh, dtype=np.float64)[:, None]
    j = np.arange(ow, dtype=np.float64)[None, :]
    k = t[:, 6] * j + t[:, 7] * i + 1.0
    limit = 1e15  # as the kernel: keeps the conversion to integers defined
    sx = np.clip((t[:, 0] * j + t[:, 1] * i + t[:, 2]) / k, -limit, limit)
    sy = np.clip((t[:, 3] * j + t[:, 4] * i + t[:, 5]) / k, -limit, limit)
    if bilinear:
        x0, y0 = np.floor(sx), np.floor(sy)
        fx, fy = sx - x0, sy - y0
        rows = [y0.astype(np.int64), y0.astype(np.int64) + 1]
        cols = [x0.astype(np.int64), x0.astype(np.int64) + 1]
        row_w, col_w = [1 - fy, fy], [1 - fx, fx]
        pairs = [(r, c) for r in range(2) for c in range(2)]
    else:
        rows, cols = [np.round(sy).astype(np.int64)], [np.round(sx).astype(np.int64)]
        row_w = col_w = [np.ones_like(sx)]
        pairs = [(0, 0)]
    offsets, weights, valid = [], [], []
    for r, c in pairs:
        ri, rv = _fold(rows[r], h, mode)
        ci, cv = _fold(cols[c], w, mode)
        offsets.append(ri * w + ci)
        weights.append(row_w[r] * col_w[c])
        valid.append(None if rv is None else rv & cv)
    valid = None if valid[0] is None else np.stack(valid, axis=-1)
    return np.stack(offsets, axis=-1), np.stack(weights, axis=-1), valid


def affine_forward(x, transforms, output_size=None, interpolation="bilinear", fill_mode="reflect",
                   fill_value=0.0):
    """Resample each image of ``x`` (N, H, W, C) through its transform.

    ``transforms`` is (N, 8) or (8,): ``[a0, a1, a2, b0, b1, b2, c0, c1]``
    mapping output points to input points; ``output_size`` (OH, OW) defaults
    to the input's.  Returns (N, OH, OW, C) of ``x``'s dtype.
    """
    x, t, out, bilinear, mode, fill = check_forward(x, transforms, output_size, interpolation, fill_mode,
                                                    fill_value)
    n, h, w, c = x.shape
    offsets, weights, valid = _taps(t, (h, w), out, bilinear, mode)
    pixels = x.reshape(n, h * w, c)
    gathered = pixels[np.arange(n)[:, None, None, None], offsets]  # (N, OH, OW, T, C)
    if valid is not None:
        gathered = np.where(valid[..., None], gathered, fill)
    y = np.einsum("nijt,nijtc->nijc", weights, gathered)
    return np.ascontiguousarray(y, dtype=x.dtype)


def affine_backward(dy, transforms, input_shape, interpolation="bilinear", fill_mode="reflect"):
    """The adjoint of ``affine_forward`` in ``x``: dL/dx (``input_shape``) given dL/dy.

    Taps that read ``fill_value`` pass no gradient.
    """
    dy, t, (n, h, w, c), bilinear, mode = check_backward(dy, transforms, input_shape, interpolation, fill_mode)
    offsets, weights, valid = _taps(t, (h, w), dy.shape[1:3], bilinear, mode)
    if valid is not None:
        weights = np.where(valid, weights, 0.0)
    contributions = weights[..., None] * dy[:, :, :, None, :]  # (N, OH, OW, T, C)
    flat = (np.arange(n)[:, None, None, None] * (h * w) + offsets).reshape(-1)
    dx = np.empty((n * h * w, c), dtype=np.float64)
    for ch in range(c):  # a loop over channels, not images: one bincount scatters the whole batch
        dx[:, ch] = np.bincount(flat, weights=contributions[..., ch].reshape(-1), minlength=n * h * w)
    return dx.reshape(n, h, w, c).astype(dy.dtype)
