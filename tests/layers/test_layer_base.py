"""The Layer contract itself: names, building, trainability, dtype, custom layers."""
import json

import numpy as np
import pytest

import nnkit
from nnkit import Input, Tensor, ops
from nnkit.layers import (BatchNormalization, Conv2D, Dense, Dropout, Layer, ReLU, clear_session, deserialize,
                          get, register, serialize)


def test_auto_names_count_per_class_and_skip_user_names():
    assert [Conv2D(1, 1).name for _ in range(3)] == ["conv2d", "conv2d_1", "conv2d_2"]
    assert Dense(1).name == "dense"
    assert BatchNormalization().name == "batch_normalization"
    assert ReLU().name == "re_lu"
    Dense(1, name="dense_1")
    assert Dense(1).name == "dense_2"
    clear_session()
    assert Conv2D(1, 1).name == "conv2d"


def test_names_must_be_usable_in_weight_paths():
    with pytest.raises(ValueError, match="without '/'"):
        Dense(2, name="a/b")


def test_lazy_build_on_first_call_or_explicit_build():
    lazy = Dense(3)
    assert not lazy.built and lazy.weights == []
    lazy(np.zeros((2, 4)))
    assert lazy.built and lazy.kernel.shape == (4, 3)
    explicit = Dense(3)
    explicit.build((None, 5))
    assert explicit.built and explicit.kernel.shape == (5, 3) and explicit.input_shape == (None, 5)


def test_declared_input_shape_wins_over_the_first_call():
    layer = Dense(3, input_shape=(5,))
    with pytest.raises(ValueError, match=r"Dense 'dense'.*\(2, 4\).*expected 5 channels"):
        layer(np.zeros((2, 4)))
    assert layer.kernel.shape == (5, 3)


def test_count_params_before_build_is_a_clear_error():
    with pytest.raises(ValueError, match="Dense 'dense'.*not built"):
        Dense(3).count_params()


def test_freezing_sets_requires_grad_and_moves_weights_to_non_trainable():
    layer = Dense(2)
    layer.build((None, 3))
    layer.trainable = False
    assert layer.trainable_weights == []
    assert [w.name for w in layer.non_trainable_weights] == ["dense/kernel", "dense/bias"]
    assert not any(w.requires_grad for w in layer.weights)
    layer.trainable = True
    assert all(w.requires_grad for w in layer.weights)
    frozen = Dense(2, trainable=False)
    frozen.build((None, 3))
    assert not frozen.kernel.requires_grad and frozen.get_config()["trainable"] is False


def test_get_and_set_weights():
    layer = Dense(2)
    layer.build((None, 3))
    arrays = [np.ones((3, 2)), np.full(2, 5.0)]
    layer.set_weights(arrays)
    assert np.all(layer.bias.data == 5) and layer.bias.dtype == np.float32
    with pytest.raises(ValueError, match="dense/kernel has shape"):
        layer.set_weights([np.ones((2, 2)), np.ones(2)])


def test_ndarrays_take_the_layer_dtype_and_tensors_set_it():
    assert Dense(2)(np.zeros((1, 3), np.float64)).dtype == np.float32
    layer = Dense(2)
    assert layer(Tensor(np.zeros((1, 3)))).dtype == np.float64
    assert layer(np.zeros((1, 3), np.float32)).dtype == np.float64  # built float64: inputs are cast
    assert Dense(2, dtype="float64")(np.zeros((1, 3))).dtype == np.float64
    with pytest.raises(TypeError, match="float32 or float64"):
        Dense(2, dtype="int32")


def test_cast_of_a_float64_tensor_keeps_gradients():
    layer = Dense(2)
    layer.build((None, 3))
    x = Tensor(np.ones((1, 3)), requires_grad=True)
    layer(x).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.shape == (1, 3)


class Scale(Layer):
    """A custom layer with one trainable scalar and a call without ``training``."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight("w", (1,), initializer=nnkit.initializers.Constant(self.factor))

    def call(self, x):
        return x * self.w


def test_custom_layer_auto_config_registry_and_custom_objects():
    layer = Scale(3.0, name="scale_me")
    y = layer(np.ones((2, 2)))
    assert np.allclose(y.numpy(), 3) and layer.weights[0].name == "scale_me/w"
    config = layer.get_config()
    assert config["factor"] == 3.0 and config["name"] == "scale_me"
    with pytest.raises(ValueError, match="unknown layer class 'Scale'.*register"):
        deserialize(serialize(layer))
    clone = deserialize(json.loads(json.dumps(serialize(layer))), custom_objects={"Scale": Scale})
    assert isinstance(clone, Scale) and clone.factor == 3.0
    register("Scale")(Scale)
    assert get("Scale") is Scale
    assert isinstance(deserialize(serialize(layer)), Scale)
    # the symbolic path infers shapes by running call() when compute_output_shape is not given
    assert Scale()(Input(shape=(4,))).shape == (None, 4)


def test_register_refuses_to_shadow_builtins():
    with pytest.raises(ValueError, match="built-in"):
        register("Dense")(Scale)


class Block(Layer):
    """A layer made of layers: its sublayers are tracked as attributes."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = Dense(4)
        self.norm = BatchNormalization()
        self.drop = Dropout(0.5)

    def call(self, x, training=None):
        return self.drop(self.norm(self.dense(x)))


def test_sublayers_are_tracked_and_training_reaches_them():
    block = Block()
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    eval_out = block(x).numpy()
    assert np.all(block.norm.moving_mean.data == 0)  # inference by default
    train_out = block(x, training=True).numpy()
    assert np.any(block.norm.moving_mean.data != 0)  # BN saw training=True without being passed it
    assert np.mean(train_out == 0) > 0.2 and np.mean(eval_out == 0) < 0.1  # dropout active only in training
    assert [w.name for w in block.weights][:2] == ["dense/kernel", "dense/bias"]
    assert block.count_params() == 16 + 16


def test_a_layer_must_init_its_base_before_assigning_sublayers():
    class Broken(Layer):
        def __init__(self):
            self.dense = Dense(2)
            super().__init__()

    with pytest.raises(RuntimeError, match="super\\(\\).__init__\\(\\)"):
        Broken()


def test_input_returns_a_symbolic_tensor():
    x = Input(shape=(28, 28, 1), name="image")
    assert x.shape == (None, 28, 28, 1) and x.dtype == np.float32
    assert x.layer.name == "image"
    assert Input(shape=(4,), batch_size=8).shape == (8, 4)
    with pytest.raises(TypeError, match="no value"):
        np.asarray(x)
    with pytest.raises(TypeError, match="cannot mix symbolic"):
        nnkit.layers.Add()([x, np.zeros((1, 28, 28, 1))])


def test_ops_work_on_layer_outputs():
    y = Dense(2)(np.ones((1, 3)))
    assert ops.sum(y).shape == ()
