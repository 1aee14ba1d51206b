"""Subclassed models: layers assigned in __init__ are tracked automatically."""
import json

import numpy as np
import pytest

from nnkit import Model, Sequential, Tensor
from nnkit.layers import BatchNormalization, Conv2D, Dense, Dropout, GlobalAveragePooling2D, ReLU, serialize
from nnkit.models.summary import summary_text


class TinyNet(Model):
    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes
        self.conv = Conv2D(4, 3, padding="same")
        self.bn = BatchNormalization()
        self.stages = [Dense(8, activation="relu"), Dropout(0.5)]
        self.block = Sequential([Dense(8), ReLU()], name="block")
        self.head = Dense(classes)
        self.pool = GlobalAveragePooling2D()

    def call(self, x, training=None):
        x = self.pool(self.bn(self.conv(x)))  # training reaches BN without being passed
        for layer in self.stages:
            x = layer(x)
        return self.head(x + self.block(x))


def test_layers_are_tracked_in_assignment_order():
    net = TinyNet(name="tiny")
    assert [layer.name for layer in net.layers] == ["conv2d", "batch_normalization", "dense", "dropout", "block",
                                                    "dense_2", "global_average_pooling2d"]
    assert net.get_layer("block").layers[0].name == "dense_1"
    assert not net.built


def test_weights_appear_on_first_call_and_gradients_flow():
    net = TinyNet()
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3))
    out = net(x, training=True)
    assert out.shape == (2, 3) and out.dtype == np.float32 and net.built
    assert net.count_params() == 112 + 16 + 40 + 72 + 27
    assert len(net.trainable_weights) == len(net.weights) - 2
    out.sum().backward()
    assert all(w.grad is not None for w in net.trainable_weights)
    assert np.any(net.bn.moving_mean.data != 0)


def test_training_defaults_to_inference():
    net = TinyNet()
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3))
    np.testing.assert_array_equal(net(x).numpy(), net(x).numpy())
    assert np.all(net.bn.moving_mean.data == 0)


def test_build_with_a_shape_and_summary():
    net = TinyNet(name="tiny")
    net.build((None, 5, 5, 3))
    assert net.count_params() == 267
    text = summary_text(net)
    assert 'Model: "tiny"' in text and "block (Sequential)" in text and "(None, 8)" in text
    assert "Total params: 267" in text and "Non-trainable params: 8" in text


def test_reassigning_an_attribute_replaces_the_tracked_layer():
    net = TinyNet()
    old = net.head
    net.head = Dense(5, name="new_head")
    assert old not in net.layers and net.layers[-2].name == "new_head"


def test_freezing_part_of_a_subclassed_model():
    net = TinyNet()
    net(np.zeros((1, 5, 5, 3)))
    net.conv.trainable = False
    assert not net.conv.kernel.requires_grad
    assert "conv2d/kernel" not in [w.name for w in net.trainable_weights]


def test_config_captures_simple_constructor_arguments():
    net = TinyNet(classes=7, name="seven")
    config = json.loads(json.dumps(serialize(net)))
    assert config["class_name"] == "TinyNet" and config["config"]["classes"] == 7
    clone = TinyNet.from_config(config["config"])
    assert clone.name == "seven" and clone.classes == 7


def test_a_model_without_call_says_so():
    class Empty(Model):
        pass

    with pytest.raises(NotImplementedError, match="must implement call"):
        Empty()(Tensor(np.zeros((1, 2))))
