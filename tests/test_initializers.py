"""Initializers: Keras formulas, seeding through nnkit.random, lookup and errors."""
import json
import math

import numpy as np
import pytest

import nnkit
from nnkit import initializers as I
from nnkit.layers import Conv2D, Dense


def test_fans_follow_keras():
    assert I.compute_fans((4, 3)) == (4, 3)
    assert I.compute_fans((3, 3, 8, 16)) == (72, 144)
    assert I.compute_fans((5,)) == (5, 5)


@pytest.mark.parametrize("name,shape,limit", [
    ("glorot_uniform", (200, 300), math.sqrt(6 / 500)),
    ("he_uniform", (3, 3, 40, 50), math.sqrt(6 / 360)),
    ("lecun_uniform", (400, 10), math.sqrt(3 / 400)),
])
def test_uniform_limits(name, shape, limit):
    nnkit.set_seed(0)
    w = I.get(name)(shape, "float32")
    assert w.dtype == np.float32 and w.shape == shape
    assert np.abs(w).max() <= limit + 1e-7
    assert np.abs(w).max() > 0.98 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.02 * limit


@pytest.mark.parametrize("name,shape,std", [
    ("he_normal", (3, 3, 64, 32), math.sqrt(2 / 576)),
    ("glorot_normal", (300, 200), math.sqrt(2 / 500)),
    ("lecun_normal", (500, 100), math.sqrt(1 / 500)),
])
def test_truncated_normal_std_is_corrected_as_keras(name, shape, std):
    nnkit.set_seed(0)
    w = I.get(name)(shape, "float64")
    assert w.dtype == np.float64
    assert abs(w.std() - std) < 0.03 * std
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-12


def test_constants():
    assert np.all(I.get("zeros")((2, 3)) == 0)
    assert np.all(I.get("ones")((2,), "float64") == 1)
    assert np.all(I.Constant(0.5)((3,)) == 0.5)


def test_seeded_by_nnkit_random():
    def kernel():
        layer = Dense(8)
        layer.build((None, 4))
        return layer.kernel.data

    nnkit.set_seed(42)
    a = kernel()
    nnkit.set_seed(42)
    b, c = kernel(), kernel()
    assert np.array_equal(a, b) and not np.array_equal(b, c)
    assert np.array_equal(I.HeNormal(seed=1)((3, 3)), I.HeNormal(seed=1)((3, 3)))


def test_keras_defaults_for_layers():
    conv = Conv2D(4, 3)
    assert isinstance(conv.kernel_initializer, I.GlorotUniform)
    assert isinstance(conv.bias_initializer, I.Zeros)
    conv.build((None, 5, 5, 2))
    assert np.all(conv.bias.data == 0)
    assert np.abs(conv.kernel.data).max() <= math.sqrt(6 / (18 + 36))


@pytest.mark.parametrize("identifier", ["he_normal", "HeNormal", I.HeNormal(), I.HeNormal,
                                        {"class_name": "HeNormal", "config": {"seed": None}}])
def test_lookup_forms(identifier):
    assert isinstance(I.get(identifier), I.HeNormal)


def test_serialize_round_trip_through_json():
    for init in (I.VarianceScaling(2.0, "fan_out", "uniform", seed=3), I.RandomNormal(1.0, 0.1), I.Constant(2.0),
                 I.GlorotUniform(seed=7)):
        text = json.dumps(I.serialize(init))
        again = I.get(json.loads(text))
        assert type(again) is type(init) and again.get_config() == init.get_config()


def test_callables_and_custom_objects():
    def half(shape, dtype="float32"):
        return np.full(shape, 0.5, dtype)

    assert I.get(half) is half
    assert I.serialize(half) == "half"
    assert I.get("half", {"half": half}) is half
    layer = Dense(2, kernel_initializer=half)
    layer.build((None, 3))
    assert np.all(layer.kernel.data == 0.5)


def test_unknown_initializer_lists_the_choices():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'; valid choices: .*glorot_normal, "
                                         "glorot_uniform, he_normal, he_uniform.*zeros"):
        I.get("glorot")
    with pytest.raises(ValueError, match="unknown mode 'fan'"):
        I.VarianceScaling(mode="fan")
    with pytest.raises(TypeError, match="cannot interpret 3"):
        I.get(3)
