"""Functional models: DAGs with residual and concatenation skips, several inputs and
outputs, shared layers and nested models; equal to the same net written with nnkit.functional."""
import json

import numpy as np

from nnkit import Input, Model, Sequential, Tensor, ops
from nnkit import functional as F
from nnkit.layers import (Add, BatchNormalization, Concatenate, Conv2D, Dense, Flatten, GlobalAveragePooling2D,
                          GlobalMaxPooling2D, ReLU, serialize)
from nnkit.models import Functional, model_from_config

rng = np.random.default_rng(0)


def residual_model(dtype="float32"):
    x = Input(shape=(6, 6, 3), name="image", dtype=dtype)
    h = Conv2D(4, 3, padding="same", activation="relu", name="c1")(x)
    h = BatchNormalization(name="bn")(h)
    h = Conv2D(4, 3, padding="same", name="c2")(h)
    s = Conv2D(4, 1, use_bias=False, name="proj")(x)
    y = ReLU(name="relu")(Add(name="add")([h, s]))
    pooled = Concatenate(name="cat")([GlobalAveragePooling2D(name="gap")(y), GlobalMaxPooling2D(name="gmp")(x)])
    return Model(x, Dense(2, name="head")(pooled), name="resnetish")


def reference(x, w):
    """The same network written directly with nnkit.functional."""
    h = ops.relu(F.conv2d(x, w["c1/kernel"], w["c1/bias"], padding="same"))
    h = F.batch_norm(h, w["bn/gamma"], w["bn/beta"], w["bn/moving_mean"], w["bn/moving_variance"], training=True,
                     momentum=0.99, eps=1e-3)
    h = F.conv2d(h, w["c2/kernel"], w["c2/bias"], padding="same")
    s = F.conv2d(x, w["proj/kernel"], padding="same")
    y = ops.relu(h + s)
    pooled = ops.concatenate([F.global_avg_pool2d(y), F.global_max_pool2d(x)], axis=-1)
    return F.linear(pooled, w["head/kernel"], w["head/bias"])


def test_residual_graph_forward_and_backward_match_functional():
    model = residual_model("float64")
    assert isinstance(model, Functional) and isinstance(model, Model)
    assert all(w.dtype == np.float64 for w in model.weights)
    data = rng.standard_normal((3, 6, 6, 3))
    weights = {w.name: Tensor(w.data.copy(), requires_grad=w.requires_grad) for w in model.weights}
    x_ref = Tensor(data.copy(), requires_grad=True)
    out_ref = reference(x_ref, weights)
    g = rng.standard_normal(out_ref.shape)
    (out_ref * Tensor(g)).sum().backward()

    x = Tensor(data.copy(), requires_grad=True)
    out = model(x, training=True)
    (out * Tensor(g)).sum().backward()
    np.testing.assert_allclose(out.numpy(), out_ref.numpy(), rtol=1e-10)
    np.testing.assert_allclose(x.grad, x_ref.grad, rtol=1e-9, atol=1e-12)
    assert len(model.trainable_weights) == 9
    for w in model.trainable_weights:
        np.testing.assert_allclose(w.grad, weights[w.name].grad, rtol=1e-9, atol=1e-12, err_msg=w.name)
    for name in ("bn/moving_mean", "bn/moving_variance"):  # both updated their running statistics alike
        np.testing.assert_allclose(model.get_layer("bn").weights[2 if "mean" in name else 3].data,
                                   weights[name].data, rtol=1e-12)


def test_graph_layers_in_order_with_inputs_first():
    model = residual_model()
    names = [layer.name for layer in model.layers]
    assert names[0] == "image" and names.index("c1") < names.index("add") < names.index("head")
    assert model.count_params() == 112 + 16 + 148 + 12 + 16
    assert model.output_shape == (None, 2) and model.input_shape == (None, 6, 6, 3)


def test_multiple_inputs_and_outputs():
    a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
    joint = Concatenate()([Dense(5)(a), b])
    out1, out2 = Dense(1, name="score")(joint), Dense(2, name="cls", activation="softmax")(joint)
    model = Model([a, b], [out1, out2])
    xa, xb = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
    y1, y2 = model([xa, xb])
    assert y1.shape == (2, 1) and y2.shape == (2, 2)
    by_name = model({"a": xa, "b": xb})
    np.testing.assert_allclose(by_name[1].numpy(), y2.numpy())
    assert model.output_shape == [(None, 1), (None, 2)]
    assert model.compute_output_shape([(None, 4), (None, 3)]) == [(None, 1), (None, 2)]


def test_shared_layer_gradients_accumulate():
    shared = Dense(3, name="shared")
    a, b = Input(shape=(4,)), Input(shape=(4,))
    model = Model([a, b], Add()([shared(a), shared(b)]))
    assert model.count_params() == 15 and len(model.weights) == 2
    xa, xb = rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)
    out = model([xa, xb])
    g = rng.standard_normal(out.shape).astype(np.float32)
    (out * Tensor(g)).sum().backward()
    np.testing.assert_allclose(shared.kernel.grad, xa.T @ g + xb.T @ g, rtol=1e-5)
    np.testing.assert_allclose(shared.bias.grad, 2 * g.sum(axis=0), rtol=1e-5)


def test_layer_applied_twice_in_a_row():
    x = Input(shape=(5, 5, 2))
    conv = Conv2D(2, 3, padding="same")
    model = Model(x, conv(conv(x)))
    data = rng.standard_normal((1, 5, 5, 2))
    expected = F.conv2d(F.conv2d(data, conv.kernel.data.astype(np.float64), conv.bias.data.astype(np.float64),
                                 padding="same"), conv.kernel.data.astype(np.float64),
                        conv.bias.data.astype(np.float64), padding="same")
    np.testing.assert_allclose(model(data).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    assert model._connections_of(conv) == [["input_layer[0][0]"], ["conv2d[0][0]"]]


def test_nested_models_as_layers():
    block = Sequential([Dense(4, activation="relu"), Dense(4)], name="block")
    x = Input(shape=(4,))
    y = Add()([x, block(x)])
    encoder = Model(x, y, name="encoder")
    z = Input(shape=(4,))
    outer = Model(z, Dense(1)(encoder(encoder(z))), name="outer")
    assert [layer.name for layer in outer.layers][1] == "encoder"
    assert outer.count_params() == encoder.count_params() + 5
    out = outer(rng.standard_normal((2, 4)))
    out.sum().backward()
    assert block.layers[0].kernel.grad is not None


def test_frozen_call_argument_is_kept_per_node():
    """``base(x, training=False)``: the fine-tuning pattern keeps BN in inference mode."""
    base = Sequential([Dense(3, input_shape=(2,)), BatchNormalization()], name="base")
    x = Input(shape=(2,))
    model = Model(x, Dense(1)(base(x, training=False)))
    model(rng.standard_normal((8, 2)), training=True)
    assert np.all(base.layers[1].moving_mean.data == 0)


def test_config_round_trip_of_a_graph():
    shared = Dense(3, name="shared")
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    block = Sequential([Dense(3), ReLU()], name="block")
    merged = Concatenate(name="cat")([shared(a), block(shared(b))])
    model = Model([a, b], [Dense(2, name="out")(merged), merged], name="two_heads")
    config = json.loads(json.dumps(serialize(model)))
    assert config["class_name"] == "Functional"
    shared_entry = next(e for e in config["config"]["layers"] if e["name"] == "shared")
    assert len(shared_entry["inbound_nodes"]) == 2
    clone = model_from_config(config)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    xs = [rng.standard_normal((2, 4)), rng.standard_normal((2, 4))]
    for got, want in zip(clone(xs), model(xs)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert Model.from_config(config["config"]).count_params() == model.count_params()


def test_feature_extractor_from_layer_outputs():
    model = residual_model()
    features = Model(model.input, [model.get_layer("add").output, model.get_layer("cat").output])
    a, c = features(rng.standard_normal((2, 6, 6, 3)))
    assert a.shape == (2, 6, 6, 4) and c.shape == (2, 7)


def test_unknown_spatial_sizes():
    x = Input(shape=(None, None, 3))
    model = Model(x, GlobalAveragePooling2D()(Conv2D(4, 3, padding="same")(x)))
    assert model(rng.standard_normal((1, 5, 7, 3))).shape == (1, 4)
    assert model(rng.standard_normal((2, 9, 4, 3))).shape == (2, 4)
    assert Flatten().compute_output_shape((None, None, None, 3)) == (None, None)


def test_dtype_follows_the_input():
    x = Input(shape=(3,), dtype="float64")
    model = Model(x, Dense(2)(x))
    assert model.weights[0].dtype == np.float64
    assert model(np.ones((1, 3), np.float32)).dtype == np.float64


def test_models_accept_tensors_and_propagate_gradients_to_inputs():
    model = residual_model()
    x = Tensor(rng.standard_normal((2, 6, 6, 3)).astype(np.float32), requires_grad=True)
    model(x).sum().backward()
    assert x.grad.shape == (2, 6, 6, 3)
