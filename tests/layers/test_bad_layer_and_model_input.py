"""Every bad-input rule of the issue: a clear error naming the layer and the shapes or names."""
import numpy as np
import pytest

from nnkit import Input, Model, Sequential
from nnkit.layers import (Add, BatchNormalization, Concatenate, Conv1D, Conv2D, Dense, DepthwiseConv2D, Flatten,
                          MaxPooling2D, Reshape, UpSampling2D, ZeroPadding1D)


def test_wrong_rank_after_build():
    conv = Conv2D(4, 3)
    conv(np.zeros((1, 8, 8, 3)))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': incompatible input shape \(8, 8, 3\): expected rank 4, "
                                         r"got rank 3"):
        conv(np.zeros((8, 8, 3)))


def test_wrong_channel_count_after_build():
    conv = Conv2D(4, 3)
    conv(np.zeros((1, 8, 8, 3)))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d'.*\(1, 8, 8, 5\).*expected 3 channels.*got 5"):
        conv(np.zeros((1, 8, 8, 5)))
    dense = Dense(2, input_shape=(4,))
    with pytest.raises(ValueError, match=r"Dense 'dense'.*\(3, 5\).*expected 4 channels"):
        dense(np.zeros((3, 5)))
    bn = BatchNormalization()
    bn(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="BatchNormalization 'batch_normalization'.*expected 6"):
        bn(np.zeros((2, 7)))


def test_wrong_input_is_reported_at_model_build_time():
    with pytest.raises(ValueError, match=r"Dense 'dense_1'.*\(None, 8\).*expected 5 channels"):
        shared = Dense(3, name="dense_1", input_shape=(5,))
        Sequential([Input(shape=(8,)), shared])
    model = Sequential([Dense(4, input_shape=(3,)), Dense(2)])
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d'.*expected a 4-D channels-last input.*\(None, 2\)"):
        model.add(Conv2D(2, 3))
    assert len(model.layers) == 2  # the failed add left the model as it was


def test_kernel_larger_than_input():
    x = Input(shape=(2, 2, 1))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d': input \(None, 2, 2, 1\) is smaller than the 3x3"):
        Conv2D(1, 3)(x)
    with pytest.raises(ValueError, match="MaxPooling2D 'max_pooling2d'.*smaller than the pool window"):
        MaxPooling2D(3)(x)


def test_add_of_incompatible_shapes():
    a, b = Input(shape=(4, 4, 8)), Input(shape=(4, 4, 16))
    with pytest.raises(ValueError, match=r"Add 'add': cannot merge inputs of incompatible shapes "
                                         r"\(None, 4, 4, 8\), \(None, 4, 4, 16\)"):
        Add()([a, b])
    with pytest.raises(ValueError, match=r"Add 'add_1'.*incompatible shapes \(None, 3\), \(None, 4\)"):
        Add()([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="Add 'add_2': expects a list of inputs"):
        Add()(a)


def test_concatenate_of_incompatible_shapes():
    a, b = Input(shape=(4, 4, 8)), Input(shape=(5, 4, 8))
    with pytest.raises(ValueError, match=r"Concatenate 'concatenate'.*\(None, 4, 4, 8\), \(None, 5, 4, 8\) "
                                         r"\(axis 1 differs\)"):
        Concatenate()([a, b])
    with pytest.raises(ValueError, match="same rank"):
        Concatenate()([a, Input(shape=(8,))])


def test_graph_whose_outputs_do_not_depend_on_its_inputs():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    out = Dense(2, name="head")(b)
    with pytest.raises(ValueError, match=r"Model 'functional': graph disconnected: layer 'head' \(Dense\) needs the "
                                         r"tensor from input 'b' \(shape \(None, 4\)\).*inputs \['a'\]"):
        Model(a, out)
    with pytest.raises(ValueError, match="graph disconnected: the model's outputs need"):
        Model(a, b)
    with pytest.raises(ValueError, match="must come straight from nnkit.Input.*'head'"):
        Model(out, Dense(1)(out))


def test_unused_input_warns():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    with pytest.warns(UserWarning, match="no output depends on input\\(s\\) 'b'"):
        Model([a, b], Dense(1)(a))


def test_duplicate_layer_names():
    with pytest.raises(ValueError, match="Sequential 'sequential': the layer name 'block' is used twice "
                                         "\\(Dense and Dense\\)"):
        Sequential([Dense(2, name="block"), Dense(2, name="block")])
    x = Input(shape=(3,))
    y = Dense(2, name="same")(x)
    with pytest.raises(ValueError, match="Model 'functional': the layer name 'same' is used twice"):
        Model(x, Dense(2, name="same")(y))


@pytest.mark.parametrize("make,match", [
    (lambda: Dense(2, activation="rleu"), r"Dense 'dense': activation: unknown activation 'rleu'; valid choices: "
                                          r"elu, .*relu, relu6, .*tanh"),
    (lambda: Conv2D(2, 3, kernel_initializer="he_nromal"),
     r"Conv2D 'conv2d': kernel_initializer: unknown initializer 'he_nromal'; valid choices: .*glorot_uniform.*"
     r"he_normal, he_uniform.*zeros"),
    (lambda: DepthwiseConv2D(3, depthwise_initializer="nope"), "DepthwiseConv2D.*depthwise_initializer.*'nope'"),
    (lambda: BatchNormalization(gamma_initializer="nope"), "BatchNormalization.*gamma_initializer.*'nope'"),
    (lambda: Conv2D(2, 3, padding="full"), r"Conv2D 'conv2d': unknown padding 'full'; valid choices: valid, same"),
    (lambda: MaxPooling2D(padding="causal"), r"MaxPooling2D.*unknown padding 'causal'"),
    (lambda: Conv2D(2, 0), r"Conv2D 'conv2d': expected kernel_size to be positive integers below 2\*\*62, "
                           r"got \(0, 0\)"),
    (lambda: Conv2D(2, 3, strides=(1, 1.5)), r"Conv2D 'conv2d': expected strides to be integers, got \(1, 1.5\)"),
    (lambda: Conv2D(0, 3), r"Conv2D 'conv2d': expected filters to be a positive integer below 2\*\*62, got 0"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=True), r"DepthwiseConv2D .*expected depth_multiplier to be an "
                                                        r"integer, got True"),
    (lambda: Conv1D(2, (3, 3)), r"Conv1D 'conv1d': expected kernel_size to be an integer, got \(3, 3\)"),
    (lambda: ZeroPadding1D((1, -1)), r"ZeroPadding1D .*expected padding to be non-negative integers below 2\*\*62, "
                                     r"got \(1, -1\)"),
    (lambda: UpSampling2D(None), r"UpSampling2D .*expected size to be a positive int or a pair of them, got None"),
    (lambda: Conv2D(3, 3, groups=2), r"filters \(3\) must be divisible by groups \(2\)"),
    (lambda: Conv2D(2, 3, data_format="channels_first"), "channels_last"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_groups_must_divide_input_channels():
    with pytest.raises(ValueError, match=r"input channels \(3, input \(None, 4, 4, 3\)\) must be divisible by groups"):
        Conv2D(4, 1, groups=2)(Input(shape=(4, 4, 3)))


def test_reshape_to_the_wrong_size():
    with pytest.raises(ValueError, match=r"Reshape 'reshape': cannot reshape input \(None, 3, 4\) \(12 values per "
                                         r"sample\) into \(5, 2\)"):
        Reshape((5, 2))(Input(shape=(3, 4)))


def test_functional_model_called_on_the_wrong_shape():
    x = Input(shape=(4, 4, 3), name="image")
    model = Model(x, Flatten()(Conv2D(2, 3)(x)))
    with pytest.raises(ValueError, match=r"Model 'functional': input 0 \('image'\) expects shape "
                                         r"\(None, 4, 4, 3\), got \(2, 5, 4, 3\)"):
        model(np.zeros((2, 5, 4, 3)))
    with pytest.raises(ValueError, match=r"Model 'functional': the model has 1 input\(s\) \['image'\]; got a list "
                                         r"of 2"):
        model([np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 4, 3))])
    with pytest.raises(ValueError, match=r"the model has inputs \['image'\]; got a dict with keys \['img'\]"):
        model({"img": np.zeros((1, 4, 4, 3))})


def test_channels_first_input_gets_a_layout_hint():
    from nnkit.layers import Conv2D

    layer = Conv2D(4, 3)
    layer(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected 3 channels \(as built\), got 8; nnkit is channels-last"):
        layer(np.zeros((1, 3, 8, 8), np.float32))
