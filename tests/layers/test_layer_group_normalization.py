"""GroupNormalization: Keras 3's arguments, formula, weights, errors."""
import numpy as np
import pytest

import nnkit
from layer_helper import check_layer
from nnkit import layers


def group_norm(x, groups, axis, eps, gamma=None, beta=None):
    """float64 NumPy reference: channels on ``axis`` split into ``groups`` consecutive groups."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    shape = x.shape
    g = x.reshape(shape[0], -1, groups, shape[-1] // groups)
    mean = g.mean(axis=(1, 3), keepdims=True)
    var = g.var(axis=(1, 3), keepdims=True)
    y = ((g - mean) / np.sqrt(var + eps)).reshape(shape)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return np.moveaxis(y, -1, axis)


@pytest.mark.parametrize("kwargs,input_shape", [
    (dict(groups=2), (3, 4)),
    (dict(groups=3, axis=1), (6, 2, 2)),
    (dict(groups=-1), (2, 2, 3)),
    (dict(groups=1, center=False), (5, 4)),
    (dict(groups=2, scale=False, epsilon=0.1), (4,)),
])
def test_group_normalization_contract(kwargs, input_shape):
    layer = check_layer(layers.GroupNormalization, kwargs, input_shape, (None,) + input_shape)
    assert [w.name.split("/")[-1] for w in layer.weights] == \
        [n for n, on in (("gamma", kwargs.get("scale", True)), ("beta", kwargs.get("center", True))) if on]


@pytest.mark.parametrize("groups,axis,shape", [(2, -1, (3, 5, 4)), (4, -1, (2, 3, 3, 8)), (3, 1, (2, 6, 5)),
                                               (-1, -1, (2, 7, 3)), (1, -1, (2, 4, 6))])
def test_matches_the_float64_formula(groups, axis, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1
    layer = layers.GroupNormalization(groups=groups, axis=axis, epsilon=1e-3, dtype="float64",
                                      gamma_initializer="random_normal", beta_initializer="random_normal")
    y = layer(x).numpy()
    channels = shape[axis]
    g = channels if groups == -1 else groups
    gamma, beta = layer.gamma.data, layer.beta.data
    want = group_norm(x, g, axis, 1e-3, gamma, beta)
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-12)
    assert layer.gamma.shape == (channels,) and layer.beta.shape == (channels,)


def test_groups_minus_one_is_instance_normalisation_and_the_config_records_the_channels():
    x = np.random.default_rng(1).standard_normal((2, 6, 3))
    layer = layers.GroupNormalization(groups=-1, dtype="float64", center=False, scale=False)
    y = layer(x).numpy()
    want = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, want, rtol=1e-10)
    assert layer.get_config()["groups"] == 3  # as Keras: -1 becomes the channel count when built


def test_defaults_and_regularizers_as_keras():
    layer = layers.GroupNormalization()
    cfg = layer.get_config()
    assert (cfg["groups"], cfg["axis"], cfg["epsilon"], cfg["center"], cfg["scale"]) == (32, -1, 1e-3, True, True)
    for key in ("gamma_regularizer", "beta_regularizer", "gamma_constraint", "beta_constraint"):
        assert key in cfg
    reg = layers.GroupNormalization(groups=2, gamma_regularizer="l2", gamma_initializer="ones")
    reg(np.ones((1, 3, 4), np.float32))
    assert len(reg.losses) == 1
    np.testing.assert_allclose(float(reg.losses[0].data), 0.01 * 4, rtol=1e-6)
    assert layer.supports_masking


@pytest.mark.parametrize("kwargs,shape,match", [
    (dict(groups=3), (2, 5, 4), "groups=3 must divide the 4 channels"),
    (dict(groups=8), (2, 5, 4), "groups=8 must divide the 4 channels"),
    (dict(groups=2, axis=3), (2, 5, 4), "axis 3 is out of range"),
    (dict(groups=2, axis=0), (2, 5, 4), "batch axis"),
])
def test_bad_input_names_the_layer(kwargs, shape, match):
    with pytest.raises(ValueError, match=f"GroupNormalization 'gn'.*{match}"):
        layers.GroupNormalization(name="gn", **kwargs)(np.ones(shape, np.float32))


@pytest.mark.parametrize("kwargs,match", [(dict(groups=0), "groups must be"), (dict(groups=2.0), "groups must be"),
                                          (dict(groups=True), "groups must be"), (dict(epsilon=0), "epsilon"),
                                          (dict(axis=[1]), "axis must be an int")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.GroupNormalization(**kwargs)


def test_a_built_layer_rejects_another_channel_count():
    layer = layers.GroupNormalization(groups=2, name="gn2")
    layer(np.ones((1, 3, 4), np.float32))
    with pytest.raises(ValueError, match="gn2"):
        layer(np.ones((1, 3, 6), np.float32))


def test_trains_in_a_model():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 6, 4)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None].astype(np.float32)
    model = nnkit.Sequential([nnkit.Input((6, 4)), layers.GroupNormalization(groups=2), layers.Flatten(),
                              layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.isfinite(model.predict(x)).all()
