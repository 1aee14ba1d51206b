"""SpatialDropout1D, SpatialDropout2D, SpatialDropout3D: whole channels dropped while training."""
import numpy as np
import pytest

import nnkit
from gradcheck import check_grad
from layer_helper import check_layer
from nnkit import layers

CASES = [(layers.SpatialDropout1D, (6, 5)), (layers.SpatialDropout2D, (3, 4, 5)),
         (layers.SpatialDropout3D, (2, 3, 4, 5))]


@pytest.mark.parametrize("cls,input_shape", CASES)
@pytest.mark.parametrize("training", [False, True])
def test_contract(cls, input_shape, training):
    check_layer(cls, dict(rate=0.4), input_shape, (None,) + input_shape, 0, training=training,
                seed_each_call=True, grad=False)


@pytest.mark.parametrize("cls,input_shape", CASES)
def test_drops_whole_channels_at_the_rate_and_is_the_identity_in_inference(cls, input_shape):
    x = np.ones((300,) + input_shape, np.float32)
    layer = cls(0.3)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    y = layer(x, training=True).numpy()
    per_channel = y.reshape(300, -1, input_shape[-1])
    assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1))  # one draw per (sample, channel)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((per_channel[:, 0] == 0).mean() - 0.3) < 0.03


@pytest.mark.parametrize("cls,input_shape", CASES)
def test_seeded_draws_repeat_and_the_gradient_is_the_kept_scale(cls, input_shape):
    x = np.random.default_rng(0).standard_normal((4,) + input_shape)
    first = cls(0.5, seed=7, dtype="float64")(x, training=True).numpy()
    np.testing.assert_array_equal(cls(0.5, seed=7, dtype="float64")(x, training=True).numpy(), first)

    def fresh(t):  # the same draw at every evaluation, so that central differences see one function
        return cls(0.5, seed=7, dtype="float64")(t, training=True)
    check_grad(fresh, x)


def test_masks_pass_through_and_keras_config():
    ids = np.array([[1, 2, 0]])
    x = layers.Embedding(5, 4, mask_zero=True)(ids)
    out = layers.SpatialDropout1D(0.5)(x, training=True)
    np.testing.assert_array_equal(nnkit.tensor.get_keras_mask(out), [[True, True, False]])
    assert layers.SpatialDropout1D(0.2, seed=1).get_config()["seed"] == 1
    assert layers.SpatialDropout3D(0.2).get_config()["data_format"] == "channels_last"


@pytest.mark.parametrize("cls,input_shape", CASES)
def test_bad_input(cls, input_shape):
    with pytest.raises(ValueError, match=f"{cls.__name__} 'sd'.*rate"):
        cls(1.0, name="sd")
    wrong = np.ones((2,) + input_shape + (1,), np.float32)
    with pytest.raises(ValueError, match=f"{cls.__name__} 'sd2'"):
        cls(0.1, name="sd2")(wrong)
    if cls is not layers.SpatialDropout1D:
        with pytest.raises(ValueError, match="channels_last"):
            cls(0.1, data_format="channels_first")
