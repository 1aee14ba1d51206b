"""TimeDistributed: one layer over every step, its weights, masks, config, save/load, errors."""
import json

import numpy as np
import pytest

import nnkit
from layer_helper import gradient_check
from nnkit import Input, Tensor, layers
from nnkit.tensor import get_keras_mask, set_keras_mask


def per_step(layer, x, **kwargs):
    """The definition: the layer called on each step, stacked along axis 1."""
    return np.stack([layer(Tensor(x[:, t]), **kwargs).numpy() for t in range(x.shape[1])], axis=1)


@pytest.mark.parametrize("inner,shape", [
    (lambda: layers.Dense(3, activation="tanh"), (4, 5)),
    (lambda: layers.Conv2D(2, 3, padding="same"), (3, 6, 6, 2)),
    (lambda: layers.Flatten(), (3, 2, 2)),
    (lambda: nnkit.Sequential([layers.Dense(4), layers.ReLU(), layers.Dense(2)]), (5, 3)),
])
def test_equals_the_layer_on_each_step_with_one_set_of_weights(inner, shape):
    x = np.random.default_rng(0).standard_normal((2,) + shape).astype(np.float32)
    wrapper = layers.TimeDistributed(inner())
    y = wrapper(x)
    np.testing.assert_allclose(y.numpy(), per_step(wrapper.layer, x), rtol=1e-5, atol=1e-6)
    assert wrapper.weights == wrapper.layer.weights  # the same Tensors, named by the inner layer
    assert tuple(wrapper.compute_output_shape((None,) + shape)) == (None,) + y.shape[1:]
    inp = Input(shape)
    assert layers.TimeDistributed(inner())(inp).shape == (None,) + y.shape[1:]


def test_weights_shapes_and_functional_build():
    inp = Input((7, 10))
    td = layers.TimeDistributed(layers.Dense(4, name="proj"))
    model = nnkit.Model(inp, td(inp))
    assert [w.name for w in model.weights] == ["proj/kernel", "proj/bias"]
    assert [w.shape for w in td.weights] == [(10, 4), (4,)]
    assert model.count_params() == 44
    assert model.output_shape == (None, 7, 4)


def test_float64_gradients_through_the_wrapper():
    td = layers.TimeDistributed(layers.Dense(3, activation="tanh"), dtype="float64")
    td(np.zeros((2, 4, 5)))
    assert all(w.dtype == np.float64 for w in td.weights)
    gradient_check(td, (4, 5), lambda layer, x: layer(x))  # the input and the inner kernel and bias


def test_batch_normalization_inside_keeps_per_step_statistics():
    bn = layers.BatchNormalization(momentum=0.0)
    td = layers.TimeDistributed(bn)
    x = np.random.default_rng(2).standard_normal((6, 3, 4)).astype(np.float32) + np.arange(3)[None, :, None]
    y = td(x, training=True).numpy()
    for t in range(3):  # each step normalised with its own batch statistics, as Keras's loop does
        s = x[:, t]
        want = (s - s.mean(0)) / np.sqrt(s.var(0) + bn.epsilon)
        np.testing.assert_allclose(y[:, t], want, rtol=1e-4, atol=1e-5)


def test_masks_reach_the_inner_layer_folded_and_the_output_keeps_them():
    seen = []

    class Rec(layers.Layer):
        _supports_masking = True

        def call(self, inputs, mask=None):
            seen.append(mask)
            return inputs * 1.0

    ids = np.array([[1, 2, 0], [3, 0, 0]])
    x = layers.Embedding(5, 2, mask_zero=True)(ids)
    out = layers.TimeDistributed(Rec())(x)
    np.testing.assert_array_equal(seen[-1], (ids != 0).reshape(6))
    np.testing.assert_array_equal(get_keras_mask(out), ids != 0)
    dense_out = layers.TimeDistributed(layers.Dense(2))(x)  # an inner layer without mask=: still carried
    np.testing.assert_array_equal(get_keras_mask(dense_out), ids != 0)


def test_config_and_save_load_round_trip(tmp_path):
    td = layers.TimeDistributed(layers.Conv2D(3, 2, name="c"), name="td")
    cfg = json.loads(json.dumps(td.get_config()))
    assert cfg["layer"]["class_name"] == "Conv2D" and cfg["name"] == "td"
    again = layers.TimeDistributed.from_config(cfg)
    assert isinstance(again.layer, layers.Conv2D) and again.layer.filters == 3
    model = nnkit.Sequential([Input((4, 5, 5, 2)), td, layers.TimeDistributed(layers.Flatten()),
                              layers.GlobalAveragePooling1D(), layers.Dense(1)])
    x = np.random.default_rng(3).standard_normal((2, 4, 5, 5, 2)).astype(np.float32)
    model.save(tmp_path / "td.nnk")
    back = nnkit.load_model(tmp_path / "td.nnk")
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=1e-6)


def test_bad_input():
    with pytest.raises(TypeError, match="TimeDistributed 'td'.*wraps a Layer"):
        layers.TimeDistributed(lambda x: x, name="td")
    with pytest.raises(ValueError, match="TimeDistributed 'td2'.*rank 3 or more"):
        layers.TimeDistributed(layers.Dense(2), name="td2")(np.ones((2, 3), np.float32))
    x = Tensor(np.ones((2, 3, 4), np.float32))
    set_keras_mask(x, np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="TimeDistributed 'td3'.*mask must start with"):
        layers.TimeDistributed(layers.Dense(2), name="td3")(x)
