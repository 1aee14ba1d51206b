"""Conv2DTranspose, UpSampling2D, Cropping2D, Permute, RepeatVector: values, Keras shapes, contract."""
import numpy as np
import pytest

from layer_helper import check_layer
from nnkit import functional as F
from nnkit import image
from nnkit.layers import Conv2DTranspose, Cropping2D, Permute, RepeatVector, UpSampling2D


@pytest.mark.parametrize("kwargs,input_shape,out,params", [
    (dict(filters=3, kernel_size=3), (4, 5, 2), (None, 6, 7, 3), 57),
    (dict(filters=3, kernel_size=3, strides=2, padding="same"), (4, 5, 2), (None, 8, 10, 3), 57),
    (dict(filters=2, kernel_size=(2, 3), strides=(2, 3), output_padding=(1, 2), use_bias=False), (3, 3, 2),
     (None, 7, 11, 2), 24),
    (dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", activation="tanh"), (4, 4, 3), (None, 4, 4, 2),
     56),
    (dict(filters=1, kernel_size=4, strides=3, padding="valid"), (2, 3, 1), (None, 7, 10, 1), 17),
])
def test_conv2d_transpose_contract(kwargs, input_shape, out, params):
    check_layer(Conv2DTranspose, kwargs, input_shape, out, params)


def test_conv2d_transpose_kernel_layout_and_functional_equivalence():
    layer = Conv2DTranspose(5, 3, strides=2, padding="same", output_padding=1, bias_initializer="ones")
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype(np.float32)
    y = layer(x)
    assert layer.kernel.shape == (3, 3, 5, 3) and layer.bias.shape == (5,)  # (kh, kw, filters, in_channels)
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]
    expected = F.conv2d_transpose(x, layer.kernel.data, layer.bias.data, strides=2, padding="same", output_padding=1)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-6)
    assert y.shape == (2, 8, 8, 5)


def test_conv2d_transpose_keras_shapes_for_a_decoder():
    """The Keras autoencoder idiom: 7x7 -> 14x14 -> 28x28 with stride 2 and 'same'."""
    first = Conv2DTranspose(64, 3, strides=2, padding="same")
    assert first.compute_output_shape((None, 7, 7, 32)) == (None, 14, 14, 64)
    first.build((None, 7, 7, 32))
    assert first.count_params() == 3 * 3 * 64 * 32 + 64
    assert Conv2DTranspose(1, 3, strides=2, padding="same").compute_output_shape((None, 14, 14, 64)) == \
        (None, 28, 28, 1)
    assert Conv2DTranspose(8, 5, strides=2).compute_output_shape((None, 7, 7, 3)) == (None, 17, 17, 8)


def test_conv2d_transpose_bad_arguments():
    with pytest.raises(ValueError, match=r"output_padding must be None or non-negative ints each below its stride "
                                         r"\(2, 2\), got 2"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match=r"Conv2DTranspose .*expected filters to be a positive integer below 2\*\*62, got 0"):
        Conv2DTranspose(0, 3)
    with pytest.raises(ValueError, match="unknown padding 'full'"):
        Conv2DTranspose(2, 3, padding="full")


@pytest.mark.parametrize("cls,kwargs,input_shape,out", [
    (UpSampling2D, dict(), (3, 4, 2), (None, 6, 8, 2)),
    (UpSampling2D, dict(size=(3, 1), interpolation="bilinear"), (3, 4, 2), (None, 9, 4, 2)),
    (Cropping2D, dict(cropping=1), (4, 5, 2), (None, 2, 3, 2)),
    (Cropping2D, dict(cropping=((0, 2), (1, 0))), (4, 5, 2), (None, 2, 4, 2)),
    (Permute, dict(dims=(2, 1)), (3, 4), (None, 4, 3)),
    (Permute, dict(dims=(3, 1, 2)), (3, 4, 2), (None, 2, 3, 4)),
    (RepeatVector, dict(n=3), (4,), (None, 3, 4)),
])
def test_resampling_and_rearranging_contract(cls, kwargs, input_shape, out):
    check_layer(cls, kwargs, input_shape, out, 0)


def test_values():
    x = np.arange(2 * 2 * 3 * 2, dtype=np.float32).reshape(2, 2, 3, 2)
    np.testing.assert_array_equal(UpSampling2D((2, 3))(x).numpy(), x.repeat(2, axis=1).repeat(3, axis=2))
    np.testing.assert_allclose(UpSampling2D(2, interpolation="bilinear")(x).numpy(),
                               image.resize(x, (4, 6), "bilinear").numpy())
    np.testing.assert_array_equal(Cropping2D(((1, 0), (0, 1)))(x).numpy(), x[:, 1:, :2])
    np.testing.assert_array_equal(Permute((3, 1, 2))(x).numpy(), x.transpose(0, 3, 1, 2))
    v = x.reshape(2, 12)
    np.testing.assert_array_equal(RepeatVector(4)(v).numpy(), np.repeat(v[:, None], 4, axis=1))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"cropping \(\(3, 3\), \(0, 0\)\) leaves nothing of input \(None, 5, 5, 1\)"):
        Cropping2D(((3, 3), (0, 0))).compute_output_shape((None, 5, 5, 1))
    with pytest.raises(ValueError, match="cropping must be an int"):
        Cropping2D(-1)
    with pytest.raises(ValueError, match=r"dims must be a permutation of 1..2"):
        Permute((0, 1))
    with pytest.raises(ValueError, match=r"RepeatVector .*expected n to be a positive integer below 2\*\*62, got 0"):
        RepeatVector(0)
    with pytest.raises(ValueError, match="unknown or unsupported interpolation 'bicubic'"):
        UpSampling2D(interpolation="bicubic")


def test_a_decoder_with_every_new_layer_round_trips_through_save_and_load(tmp_path):
    import nnkit
    from nnkit.layers import (ActivityRegularization, Dense, Flatten, GaussianDropout, GaussianNoise, Identity,
                              PReLU, Reshape, SpatialDropout2D)

    model = nnkit.Sequential([
        nnkit.Input((6,)), Dense(12), RepeatVector(2), Permute((2, 1)), Reshape((3, 4, 2)),
        Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1), PReLU(shared_axes=[1, 2]),
        UpSampling2D(interpolation="bilinear"), Cropping2D(((1, 2), (3, 0))), SpatialDropout2D(0.2),
        GaussianNoise(0.1), GaussianDropout(0.1), ActivityRegularization(l2=1e-3), Identity(), Flatten(), Dense(3)])
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.data[...] = rng.uniform(-0.5, 0.5, w.shape)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    expected = model(x).numpy()
    model.save(tmp_path / "decoder.nnkit")
    loaded = nnkit.load_model(tmp_path / "decoder.nnkit")
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    np.testing.assert_array_equal(loaded(x).numpy(), expected)
    assert loaded.count_params() == model.count_params()
