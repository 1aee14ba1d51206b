"""nnkit.image.resize and the aspect-ratio boxes, and functional.conv2d_transpose:
hand-computed values, Keras's output sizes, float64 gradients, bad input."""
import numpy as np
import pytest

from gradcheck import check_grad
from nnkit import Tensor, image
from nnkit import functional as F


def row(values):
    return np.asarray(values, dtype=np.float64).reshape(1, 1, -1, 1)


# ----------------------------------------------------------------------------- resize

def test_bilinear_upsampling_uses_half_pixel_centres_and_clamps_edges():
    """TF's resize(half_pixel_centers=True): output j reads (j + 0.5) * in / out - 0.5."""
    y = image.resize(row([0, 1]), (1, 4), "bilinear").numpy()
    np.testing.assert_allclose(y.ravel(), [0, 0.25, 0.75, 1])
    y = image.resize(row([0, 3, 6]), (1, 2), "bilinear").numpy()  # reads 0.25 and 1.75
    np.testing.assert_allclose(y.ravel(), [0.75, 5.25])


def test_bilinear_downsampling_by_two_averages_pairs_without_antialiasing():
    y = image.resize(row([0, 2, 4, 6, 8, 10]), (1, 3), "bilinear").numpy()
    np.testing.assert_allclose(y.ravel(), [1, 5, 9])
    y = image.resize(row([1, 2, 3, 4, 5, 6, 7, 8]), (1, 2), "bilinear").numpy()  # reads 1.5 and 5.5: no area average
    np.testing.assert_allclose(y.ravel(), [2.5, 6.5])


def test_nearest_reads_floor_of_half_pixel_centres():
    y = image.resize(row([10, 20, 30]), (1, 5), "nearest").numpy()  # floor((j + .5) * 3 / 5) = 0 0 1 2 2
    np.testing.assert_array_equal(y.ravel(), [10, 10, 20, 30, 30])
    y = image.resize(row(range(6)), (1, 4), "nearest").numpy()  # floor((j + .5) * 1.5) = 0 2 3 5
    np.testing.assert_array_equal(y.ravel(), [0, 2, 3, 5])


def test_resize_is_separable_and_identity_at_the_same_size():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 7, 3))
    np.testing.assert_array_equal(image.resize(x, (5, 7)).numpy(), x)
    both = image.resize(x, (3, 11)).numpy()
    rows_then_cols = image.resize(image.resize(x, (3, 7)), (3, 11)).numpy()
    np.testing.assert_allclose(both, rows_then_cols, atol=1e-12)


def test_crop_and_pad_to_aspect_ratio_use_keras_centred_boxes():
    x = np.arange(6 * 10, dtype=np.float64).reshape(1, 6, 10, 1)
    crop = image.crop_to_aspect_ratio(x, (4, 4)).numpy()  # the centred 6x6 box
    np.testing.assert_array_equal(crop, x[:, :, 2:8])
    pad = image.pad_to_aspect_ratio(x, (4, 4), fill_value=-1).numpy()  # a 10x10 canvas, image rows 2..7
    assert pad.shape == (1, 10, 10, 1)
    np.testing.assert_array_equal(pad[:, 2:8], x)
    assert np.all(pad[:, :2] == -1) and np.all(pad[:, 8:] == -1)
    resized = image.resize(x, (3, 3), crop_to_aspect_ratio=True).numpy()
    np.testing.assert_allclose(resized, image.resize(x[:, :, 2:8], (3, 3)).numpy())


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(3, 7), (6, 2)])
def test_resize_gradient(method, size):
    check_grad(lambda x: image.resize(x, size, method), np.random.default_rng(1).standard_normal((2, 4, 5, 2)))


def test_resize_bad_input():
    x = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match=r"resize: expected size to be positive integers below 2\*\*62, got \(0, 3\)"):
        image.resize(x, (0, 3))
    with pytest.raises(ValueError, match="resize: unknown or unsupported interpolation 'lanczos3'"):
        image.resize(x, (2, 2), "lanczos3")
    with pytest.raises(NotImplementedError, match="antialias=True is not implemented"):
        image.resize(x, (2, 2), antialias=True)
    with pytest.raises(ValueError, match=r"resize: expected a 4-D channels-last batch .* got shape \(4, 4\)"):
        image.resize(np.zeros((4, 4), np.float32), (2, 2))


# ----------------------------------------------------------------------------- conv2d_transpose

def scatter_transpose(x, w, strides, pad_before, out_shape, dilation):
    """The definition: every input pixel adds its kernel-weighted copy at stride offsets."""
    n, h, wd, c = x.shape
    kh, kw, f, _ = w.shape
    y = np.zeros((n, out_shape[0] + 2 * 20, out_shape[1] + 2 * 20, f))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for b in range(kw):
                    r = 20 + i * strides[0] + a * dilation[0] - pad_before[0]
                    s = 20 + j * strides[1] + b * dilation[1] - pad_before[1]
                    y[:, r, s] += x[:, i, j] @ w[a, b].T
    return y[:, 20:20 + out_shape[0], 20:20 + out_shape[1]]


def keras_length(length, k, padding, stride, dilation, output_padding):
    """keras.src.utils.conv_utils' deconv output length, written out."""
    span = (k - 1) * dilation + 1
    if output_padding is None:
        return length * stride + max(span - stride, 0) if padding == "valid" else length * stride
    pad = span // 2 if padding == "same" else 0
    return (length - 1) * stride + span - 2 * pad + output_padding


def keras_pad_before(k, padding, stride, dilation, output_padding):
    """How many rows the transposed output starts before the first input's kernel origin (Keras/JAX padding)."""
    span = (k - 1) * dilation + 1
    if padding == "valid":
        return 0
    total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    return span - 1 - min(total // 2 + total % 2, span - 1)


@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (3, 2)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("output_padding", [None, "zero", "max"])
@pytest.mark.parametrize("kernel,dilation", [((3, 3), (1, 1)), ((4, 2), (1, 1)), ((2, 3), (2, 1)), ((1, 1), (1, 1))])
def test_conv2d_transpose_matches_the_scatter_definition_and_keras_sizes(strides, padding, output_padding, kernel,
                                                                          dilation):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 3))
    w = rng.standard_normal(kernel + (2, 3))
    b = rng.standard_normal(2)
    op = {None: None, "zero": (0, 0), "max": (strides[0] - 1, strides[1] - 1)}[output_padding]
    y = F.conv2d_transpose(Tensor(x), Tensor(w), Tensor(b), strides=strides, padding=padding, output_padding=op,
                           dilation=dilation).numpy()
    out = tuple(keras_length(x.shape[1 + i], kernel[i], padding, strides[i], dilation[i],
                             None if op is None else op[i]) for i in range(2))
    assert y.shape == (2,) + out + (2,)
    before = tuple(keras_pad_before(kernel[i], padding, strides[i], dilation[i], None if op is None else op[i])
                   for i in range(2))
    np.testing.assert_allclose(y, scatter_transpose(x, w, strides, before, out, dilation) + b, atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(strides=2, padding="same", output_padding=1),
                                    dict(strides=(2, 3), padding="valid"), dict(dilation=2, padding="same")])
def test_conv2d_transpose_gradients(kwargs):
    rng = np.random.default_rng(3)
    check_grad(lambda x, w, b: F.conv2d_transpose(x, w, b, **kwargs),
               rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((3, 3, 4, 2)), rng.standard_normal(4))


def test_conv2d_transpose_is_the_adjoint_of_conv2d():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((3, 3, 2, 5))
    z = rng.standard_normal((2, 8, 8, 2))  # conv2d input (the transposed conv's output)
    g = rng.standard_normal((2, 4, 4, 5))
    conv = F.conv2d(Tensor(z), Tensor(w), strides=2, padding="same").numpy()
    transposed = F.conv2d_transpose(Tensor(g), Tensor(w), strides=2, padding="same").numpy()
    assert transposed.shape == z.shape
    assert np.vdot(conv, g) == pytest.approx(np.vdot(z, transposed), rel=1e-12)


def test_conv2d_transpose_bad_input():
    x = Tensor(np.zeros((1, 3, 3, 2)))
    with pytest.raises(ValueError, match=r"conv2d_transpose: expected a 4-D kernel \(KH, KW, filters, 2\)"):
        F.conv2d_transpose(x, np.zeros((3, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"output_padding .* below the strides \(2, 2\), got 2"):
        F.conv2d_transpose(x, np.zeros((3, 3, 4, 2)), strides=2, output_padding=2)
    with pytest.raises(ValueError, match="conv2d_transpose: unknown padding 'full'"):
        F.conv2d_transpose(x, np.zeros((3, 3, 4, 2)), padding="full")
    with pytest.raises(ValueError, match=r"expected bias of shape \(4,\), got \(3,\)"):
        F.conv2d_transpose(x, np.zeros((3, 3, 4, 2)), np.zeros(3))
