"""2-D convolution, NHWC input and HWIO kernel: the pure-NumPy reference.

The classic im2col formulation (after Chainer's ``chainer/utils/conv.py``):
every output pixel's receptive field becomes one row of a column matrix, and
the convolution is a matrix product with the kernel reshaped to
``(KH * KW * C, F)``.  Column order is ``(kh, kw, c)``, so the product reshaped
is already NHWC.

Groups split C and F into ``groups`` equal slices; slice ``g`` of the input
channels meets only slice ``g`` of the filters.  Here that is one batched
matmul over a leading group axis, so the same code covers ordinary
(``groups=1``), grouped and depthwise (``groups=C``) convolutions.

Output size per axis (``validate.output_size``)::

    out = (size + pad_before + pad_after - ((k - 1) * dilation + 1)) // stride + 1
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..validate import (float_array, image_shape, memoized, padding_pairs, positive_int, positive_pair, same_dtype,
                        shape_is, window_output)

__all__ = ["conv2d_forward", "conv2d_backward", "im2col", "col2im"]


# ----------------------------------------------------------------------------- argument checks

@memoized
def check_window(op, x_shape, kernel_size, strides, padding, dilation):
    """A 2-D sliding window (conv, im2col) over an (N, H, W, C) shape.

    Returns ``(kernel_size, strides, padding, dilation, (OH, OW))`` as ints;
    every output size must be positive.
    """
    kernel = positive_pair(op, "kernel_size", kernel_size)
    strides = positive_pair(op, "strides", strides)
    dilation = positive_pair(op, "dilation", dilation)
    pads = padding_pairs(op, padding)
    return kernel, strides, pads, dilation, window_output(op, x_shape, kernel, strides, pads, dilation)


def check_conv2d(op, x, w, b, strides, padding, dilation, groups):
    """Check conv2d arguments: NHWC ``x``, HWIO ``w`` of ``C // groups`` input channels, ``b`` (F,) or None.

    Returns ``(x, w, b, strides, padding, dilation, groups, (OH, OW))`` with the
    arrays C-contiguous and the geometry as ints.
    """
    x = float_array(op, "x", x, ndim=4)
    w = float_array(op, "w", w, ndim=4)
    if b is not None:
        b = float_array(op, "b", b, ndim=1)
    same_dtype(op, x=x, w=w, b=b)
    geometry = check_conv2d_geometry(op, x.shape, w.shape, None if b is None else b.shape, strides, padding,
                                     dilation, groups)
    return (x, w, b) + geometry


@memoized
def check_conv2d_geometry(op, x_shape, w_shape, b_shape, strides, padding, dilation, groups):
    """The shape and geometry half of ``check_conv2d``: ``(strides, padding, dilation, groups, (OH, OW))``."""
    groups = positive_int(op, "groups", groups)
    C, (KH, KW, CG, F) = x_shape[3], w_shape
    if min(w_shape) < 1:
        raise ValueError(f"{op}: expected w (KH, KW, C // groups, F) to have no empty dimension, "
                         f"got shape {w_shape}")
    if C % groups:
        raise ValueError(f"{op}: expected groups={groups} to divide the input channels C={C} "
                         f"(x shape {x_shape})")
    if CG * groups != C:
        raise ValueError(f"{op}: expected w to have C // groups = {C // groups} input channels "
                         f"(x shape {x_shape}, groups={groups}), got w shape {w_shape}")
    if F % groups:
        raise ValueError(f"{op}: expected groups={groups} to divide the filter count F={F} "
                         f"(w shape {w_shape})")
    if b_shape is not None and b_shape != (F,):
        raise ValueError(f"{op}: expected b to have shape {(F,)}, got {b_shape}")
    _, strides, pads, dilation, out = check_window(op, x_shape, (KH, KW), strides, padding, dilation)
    return strides, pads, dilation, groups, out


def check_conv2d_backward(op, dy, x, w, strides, padding, dilation, groups):
    """``check_conv2d`` (no bias) plus ``dy``, which must have the forward output's shape.

    Returns ``(dy, x, w, strides, padding, dilation, groups, (OH, OW))``.
    """
    x, w, _, strides, pads, dilation, groups, out = check_conv2d(op, x, w, None, strides, padding,
                                                                 dilation, groups)
    dy = float_array(op, "dy", dy, ndim=4)
    same_dtype(op, dy=dy, x=x, w=w)
    shape_is(op, "dy", dy, (x.shape[0],) + out + (w.shape[3],))
    return dy, x, w, strides, pads, dilation, groups, out


def check_im2col(op, x, kernel_size, strides, padding, dilation):
    """Returns ``(x, kernel_size, strides, padding, dilation, (OH, OW))``."""
    x = float_array(op, "x", x, ndim=4)
    return (x,) + check_window(op, x.shape, kernel_size, strides, padding, dilation)


def check_col2im(op, cols, x_shape, kernel_size, strides, padding, dilation):
    """``cols`` must be ``(N * OH * OW, KH * KW * C)`` for ``x_shape = (N, H, W, C)``.

    Returns ``(cols, x_shape, kernel_size, strides, padding, dilation, (OH, OW))``.
    """
    cols = float_array(op, "cols", cols, ndim=2)
    shape = image_shape(op, "x_shape", x_shape)
    kernel, strides, pads, dilation, out = check_window(op, shape, kernel_size, strides, padding, dilation)
    shape_is(op, "cols", cols, (shape[0] * out[0] * out[1], kernel[0] * kernel[1] * shape[3]))
    return cols, shape, kernel, strides, pads, dilation, out


def _windows(xp, kernel_size, strides, dilation, out_size):
    """View of the padded input ``xp`` as (N, OH, OW, KH, KW, C) windows (no copy)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel_size, strides, dilation, out_size
    n, _, _, c = xp.shape
    s_n, s_h, s_w, s_c = xp.strides
    return as_strided(xp, shape=(n, oh, ow, kh, kw, c),
                      strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c), writeable=False)


def _im2col(x, kernel_size, strides, padding, dilation, out_size):
    xp = np.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
    win = _windows(xp, kernel_size, strides, dilation, out_size)
    n, oh, ow, kh, kw, c = win.shape
    cols = win.reshape(n * oh * ow, kh * kw * c)  # the copy, unless the windows tile xp exactly
    return cols if cols.flags.writeable else cols.copy()


def _col2im(cols, x_shape, kernel_size, strides, padding, dilation, out_size):
    """Adjoint of ``_im2col``: add every column entry back onto the pixel it came from."""
    n, h, w, c = x_shape
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel_size, strides, dilation, out_size
    (pt, pb), (pl, pr) = padding
    dxp = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=cols.dtype)
    cols = cols.reshape(n, oh, ow, kh, kw, c)
    for i in range(kh):
        for j in range(kw):
            # Tap (i, j) of output pixel (y, x) reads padded pixel (y*sh + i*dh, x*sw + j*dw).
            dxp[:, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                j * dw:j * dw + sw * (ow - 1) + 1:sw, :] += cols[:, :, :, i, j, :]
    return dxp[:, pt:pt + h, pl:pl + w, :]


def _grouped_cols(cols, groups, taps):
    """(M, KH*KW*C) columns -> (groups, M, KH*KW*C/groups): group g's input channels."""
    m, k = cols.shape
    per_group = cols.reshape(m, taps, groups, k // (taps * groups)).transpose(2, 0, 1, 3)
    return per_group.reshape(groups, m, k // groups)


def _grouped_kernel(w, groups):
    """HWIO (KH, KW, C/groups, F) -> (groups, KH*KW*C/groups, F/groups)."""
    kh, kw, cg, f = w.shape
    return w.reshape(kh * kw * cg, groups, f // groups).transpose(1, 0, 2)


def im2col(x, kernel_size, strides, padding, dilation):
    """Unfold NHWC ``x`` into the (N*OH*OW, KH*KW*C) column matrix, columns ordered (kh, kw, c).

    Padded taps are 0.
    """
    x, kernel_size, strides, padding, dilation, out = check_im2col("im2col", x, kernel_size, strides,
                                                                   padding, dilation)
    return _im2col(x, kernel_size, strides, padding, dilation, out)


def col2im(cols, x_shape, kernel_size, strides, padding, dilation):
    """The adjoint of ``im2col``: fold columns back to ``x_shape``, summing overlaps."""
    cols, x_shape, kernel_size, strides, padding, dilation, out = check_col2im(
        "col2im", cols, x_shape, kernel_size, strides, padding, dilation)
    return np.ascontiguousarray(_col2im(cols, x_shape, kernel_size, strides, padding, dilation, out))


def conv2d_forward(x, w, b, strides, padding, dilation, groups):
    """y = conv2d(x, w) + b: x (N, H, W, C), w (KH, KW, C/groups, F), b (F,) or None -> (N, OH, OW, F)."""
    x, w, b, strides, padding, dilation, groups, (oh, ow) = check_conv2d(
        "conv2d", x, w, b, strides, padding, dilation, groups)
    n = x.shape[0]
    kh, kw, _, f = w.shape
    cols = _im2col(x, (kh, kw), strides, padding, dilation, (oh, ow))
    y = np.matmul(_grouped_cols(cols, groups, kh * kw), _grouped_kernel(w, groups))  # (G, M, F/G)
    y = y.transpose(1, 0, 2).reshape(n, oh, ow, f)
    if b is not None:
        y += b
    return np.ascontiguousarray(y)


def conv2d_backward(dy, x, w, strides, padding, dilation, groups, need_dx=True, need_dw=True, need_db=True):
    """Gradients of ``conv2d_forward`` given dL/dy: returns (dx, dw, db), None where not needed."""
    dy, x, w, strides, padding, dilation, groups, out = check_conv2d_backward(
        "conv2d_backward", dy, x, w, strides, padding, dilation, groups)
    kh, kw, cg, f = w.shape
    m = dy.shape[0] * out[0] * out[1]
    dyg = dy.reshape(m, groups, f // groups).transpose(1, 0, 2)  # (G, M, F/G)
    dx = dw = db = None
    if need_db:
        db = dy.sum(axis=(0, 1, 2))
    if need_dw:
        cols = _grouped_cols(_im2col(x, (kh, kw), strides, padding, dilation, out), groups, kh * kw)
        dwg = np.matmul(cols.transpose(0, 2, 1), dyg)  # (G, KH*KW*C/G, F/G)
        dw = np.ascontiguousarray(dwg.transpose(1, 0, 2).reshape(kh, kw, cg, f))
    if need_dx:
        dcols = np.matmul(dyg, _grouped_kernel(w, groups).transpose(0, 2, 1))  # (G, M, KH*KW*C/G)
        dcols = dcols.reshape(groups, m, kh * kw, cg).transpose(1, 2, 0, 3).reshape(m, kh * kw * cg * groups)
        dx = np.ascontiguousarray(_col2im(dcols, x.shape, (kh, kw), strides, padding, dilation, out))
    return dx, dw, db
