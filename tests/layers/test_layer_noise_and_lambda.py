"""SpatialDropout2D, GaussianNoise, GaussianDropout, ActivityRegularization, PReLU, Identity, Lambda."""
import json

import numpy as np
import pytest

import nnkit
from layer_helper import check_layer
from nnkit import ops
from nnkit.layers import registry
from nnkit.layers import (ActivityRegularization, Dense, GaussianDropout, GaussianNoise, Identity, Lambda, PReLU,
                          SpatialDropout2D, deserialize, serialize)


@pytest.mark.parametrize("cls,kwargs,input_shape", [
    (SpatialDropout2D, dict(rate=0.5), (3, 4, 5)),
    (GaussianNoise, dict(stddev=0.3), (3, 4)),
    (GaussianDropout, dict(rate=0.4), (3, 4)),
    (ActivityRegularization, dict(l1=0.1, l2=0.01), (3, 4)),
    (Identity, dict(), (3, 4)),
])
@pytest.mark.parametrize("training", [False, True])
def test_noise_contract(cls, kwargs, input_shape, training):
    check_layer(cls, kwargs, input_shape, (None,) + input_shape, 0, training=training, seed_each_call=True)


@pytest.mark.parametrize("layer", [SpatialDropout2D(0.5), GaussianNoise(1.0), GaussianDropout(0.5)],
                         ids=["spatial", "noise", "dropout"])
def test_noise_is_identity_in_inference_and_seeded_in_training(layer):
    x = np.random.default_rng(0).standard_normal((8, 4, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    nnkit.set_seed(3)
    a = layer(x, training=True).numpy()
    nnkit.set_seed(3)
    np.testing.assert_array_equal(layer(x, training=True).numpy(), a)
    assert not np.array_equal(a, x)


def test_spatial_dropout_drops_whole_channels_at_the_rate():
    x = np.ones((400, 3, 3, 50), np.float32)
    y = SpatialDropout2D(0.3)(x, training=True).numpy()
    per_map = y.reshape(400, 9, 50)
    assert np.all(per_map.min(axis=1) == per_map.max(axis=1))  # one value per (image, channel)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.02
    assert abs(y.mean() - 1) < 0.03


def test_gaussian_noise_and_dropout_statistics():
    x = np.full((200, 500), 2.0)
    noisy = GaussianNoise(0.5, dtype="float64")(x, training=True).numpy() - x
    assert abs(noisy.mean()) < 0.01 and abs(noisy.std() - 0.5) < 0.01
    scaled = GaussianDropout(0.2, dtype="float64")(x, training=True).numpy() / x
    assert abs(scaled.mean() - 1) < 0.01 and abs(scaled.std() - np.sqrt(0.2 / 0.8)) < 0.01


def test_activity_regularization_adds_its_penalty_to_losses_and_to_training():
    x = np.array([[1.0, -2.0], [0.5, 0.0]], np.float32)
    reg = ActivityRegularization(l1=0.1, l2=0.01)
    model = nnkit.Sequential([nnkit.Input((2,)), Dense(2, kernel_initializer="ones"), reg])
    out = model(x).numpy()
    assert len(model.losses) == 1 and model.losses[0] is reg.losses[0]
    expected = 0.1 * np.abs(out).sum() + 0.01 * np.square(out).sum()
    assert float(model.losses[0].numpy()) == pytest.approx(expected, rel=1e-6)
    model(x)
    assert len(model.losses) == 1  # each outermost call replaces the previous call's penalties
    # the penalty reaches the gradient: with a zero data loss, training still shrinks the activations
    model.compile("sgd", "mse")
    before = np.abs(model.predict(x)).sum()
    model.fit(x, model.predict(x), epochs=3, batch_size=2, verbose=0)
    assert np.abs(model.predict(x)).sum() < before


def test_prelu_alpha_shape_values_and_contract():
    check_layer(PReLU, dict(alpha_initializer="ones"), (3, 4), (None, 3, 4), 12)
    layer = check_layer(PReLU, dict(shared_axes=[1, 2]), (3, 4, 5), (None, 3, 4, 5), 5)
    assert layer.alpha.shape == (1, 1, 5)
    prelu = PReLU(alpha_initializer="zeros")
    x = np.array([[-2.0, 3.0]], np.float32)
    y = prelu(x)
    np.testing.assert_array_equal(y.numpy(), [[0.0, 3.0]])  # Keras's default alpha is 0: a ReLU
    prelu.alpha.data[...] = [0.25, 0.5]
    np.testing.assert_array_equal(prelu(x).numpy(), [[-0.5, 3.0]])
    with pytest.raises(NotImplementedError, match="alpha_regularizer and alpha_constraint are not supported"):
        PReLU(alpha_regularizer="l2")
    with pytest.raises(ValueError, match=r"shared_axes \(3,\) out of range for input \(None, 2, 2\)"):
        PReLU(shared_axes=3).build((None, 2, 2))


def double(x, factor=2.0):
    return x * factor


def test_lambda_contract_with_an_ops_function_and_arguments():
    check_layer(Lambda, dict(function=ops.tanh), (3, 4), (None, 3, 4))
    layer = Lambda(ops.transpose, arguments={"axes": [0, 2, 1]})
    assert layer.compute_output_shape((None, 3, 4)) == (None, 4, 3)
    assert layer.get_config()["function"] == "nnkit.ops.transpose"
    given = Lambda(lambda x: ops.reshape(x, (x.shape[0], -1)), output_shape=(12,))
    assert given.compute_output_shape((None, 3, 4)) == (None, 12)


def test_lambda_in_models_saves_by_name_and_restores_only_from_the_registry_or_custom_objects(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    inputs = nnkit.Input((3,))
    outputs = Dense(2)(Lambda(double, arguments={"factor": 3.0})(inputs))
    model = nnkit.Model(inputs, outputs)
    expected = model(x).numpy()
    model.save(tmp_path / "lambda.nnkit")
    text = json.dumps(serialize(model.layers[1]))
    assert '"function": "double"' in text and "def " not in text and "co_code" not in text
    with pytest.raises(ValueError, match=r"Lambda: cannot restore the function 'double': nnkit never saves or loads "
                                         r"code. Register the function .* or pass custom_objects"):
        nnkit.load_model(tmp_path / "lambda.nnkit")
    loaded = nnkit.load_model(tmp_path / "lambda.nnkit", custom_objects={"double": double})
    np.testing.assert_array_equal(loaded(x).numpy(), expected)

    @nnkit.register("triple_it")
    def triple(v):
        return v * 3.0

    try:
        layer = deserialize(json.loads(json.dumps(serialize(Lambda(triple)))))
        np.testing.assert_array_equal(layer(x).numpy(), x * 3)
    finally:
        registry._REGISTRY.pop("triple_it")  # leave the global registry as other tests expect it
    sequential = nnkit.Sequential([nnkit.Input((3,)), Lambda(ops.relu), Identity(), Dense(1)])
    sequential.save(tmp_path / "ops.nnkit")  # functions of nnkit.ops need no registration
    np.testing.assert_array_equal(nnkit.load_model(tmp_path / "ops.nnkit")(x).numpy(), sequential(x).numpy())


def test_lambda_bad_arguments():
    with pytest.raises(TypeError, match="function must be callable"):
        Lambda(3)
    with pytest.raises(TypeError, match="arguments must be JSON-serialisable"):
        Lambda(double, arguments={"factor": object()})
    with pytest.raises(ValueError, match="cannot restore the function '<lambda>'"):
        Lambda.from_config(Lambda(lambda v: v).get_config())
    with pytest.raises(ValueError, match="cannot restore the function 'Dense'"):  # a class is never the function
        Lambda("Dense")
