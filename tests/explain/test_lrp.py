"""LRP on whole networks: conservation, LRP-0 = gradient x input, BatchNormalization folding,
residual sums, the model left unchanged, and clear errors."""
import numpy as np
import pytest

import nnkit
from nnkit.explain import composites, fold_batch_norms, gradient, gradient_x_input, integrated_gradients, lrp, rules
from nnkit.layers import (Activation, Add, AveragePooling1D, AveragePooling2D, BatchNormalization, Conv1D, Conv2D,
                          Cropping1D, Dense, Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D, Input,
                          MaxPooling1D, MaxPooling2D, ReLU, Subtract, UpSampling1D, ZeroPadding1D)
from nnkit.models import layer_graph, record_calls

rng = np.random.default_rng(1)


def randomize_bn(model):
    """Moving statistics and affine parameters away from their identity initial values."""
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.data[...] = rng.uniform(0.5, 1.5, c)
            layer.beta.data[...] = rng.normal(size=c) * 0.1
            layer.moving_mean.data[...] = rng.normal(size=c) * 0.1
            layer.moving_variance.data[...] = rng.uniform(0.5, 2.0, c)
    return model


def residual_net(bias=True, bn=True, dtype="float64", seed=0, branch_relu=False):
    """conv-bn-relu, a residual block (Add), max and average pooling, global pooling, Dense."""
    nnkit.set_seed(seed)
    inputs = Input((8, 8, 2), dtype=dtype)
    x = Conv2D(4, 3, padding="same", use_bias=bias and not bn, bias_initializer="glorot_uniform")(inputs)
    x = BatchNormalization()(x) if bn else x
    x = ReLU()(x)
    y = Conv2D(4, 3, padding="same", use_bias=bias, activation="relu", bias_initializer="glorot_uniform")(x)
    y = Conv2D(4, 3, padding="same", use_bias=bias and not bn, bias_initializer="glorot_uniform",
               activation="relu" if branch_relu else None)(y)
    y = BatchNormalization()(y) if bn else y
    x = Activation("relu")(Add()([x, y]))
    x = MaxPooling2D(2)(x)
    x = AveragePooling2D(2)(x)
    x = Conv2D(5, 1, use_bias=bias, activation="relu", bias_initializer="glorot_uniform")(x)
    x = GlobalAveragePooling2D()(x)
    outputs = Dense(3, use_bias=bias, bias_initializer="glorot_uniform")(x)
    return randomize_bn(nnkit.Model(inputs, outputs))


def lenet_like(bias=True, activation=None, dtype="float64", seed=0):
    nnkit.set_seed(seed)
    return nnkit.Sequential([
        Input((12, 12, 1), dtype=dtype),
        Conv2D(6, 3, activation="relu", use_bias=bias), MaxPooling2D(2),
        Conv2D(8, 3, activation="relu", use_bias=bias), Flatten(),
        Dense(32, activation="relu", use_bias=bias), Dense(3, use_bias=bias, activation=activation)])


def sequence_net(bias=True, dtype="float64", seed=0):
    """Conv1D (causal, dilated, strided, grouped) with 1-D pooling, padding, cropping and upsampling."""
    nnkit.set_seed(seed)
    return nnkit.Sequential([
        Input((16, 2), dtype=dtype),
        Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu", use_bias=bias), MaxPooling1D(2),
        ZeroPadding1D(1), Conv1D(6, 3, strides=2, groups=2, activation="relu", use_bias=bias), UpSampling1D(2),
        Cropping1D((1, 1)), AveragePooling1D(2), Conv1D(5, 1, activation="relu", use_bias=bias),
        GlobalAveragePooling1D(), Dense(3, use_bias=bias)])


CONSERVATIVE = [
    composites.EpsilonPlus(epsilon=1e-12, stabilizer=1e-12),
    composites.EpsilonPlusFlat(epsilon=1e-12, stabilizer=1e-12),
    composites.EpsilonGammaBox(0.0, 1.0, epsilon=1e-12, stabilizer=1e-12),
]
# ZPlus loses the relevance of an output with no positive contribution: a residual branch that
# ends without ReLU can send negative relevance there, so the conservation test's branch ends in one.
# AlphaBeta conserves where each output has contributions of both signs (not so in the residual
# net's 1x1 convolution of non-negative inputs, where a filter may have only positive weights)
ALPHA_BETA = [
    composites.EpsilonAlpha2Beta1(epsilon=1e-12, stabilizer=1e-12),
    composites.EpsilonAlpha2Beta1Flat(epsilon=1e-12, stabilizer=1e-12),
]


@pytest.mark.parametrize("composite,make", [(c, lambda: residual_net(bias=False, bn=False, branch_relu=True))
                                               for c in CONSERVATIVE]
                         + [(c, lambda: lenet_like(bias=False)) for c in CONSERVATIVE + ALPHA_BETA]
                         + [(c, lambda: sequence_net(bias=False)) for c in CONSERVATIVE])
def test_conservation_on_bias_free_nets(composite, make):
    model = make()
    x = rng.uniform(0, 1, (4,) + tuple(model.inputs[0].shape[1:]))
    R = lrp(model, x, target=[0, 1, 2, 0], composite=composite)
    np.testing.assert_allclose(R.reshape(4, -1).sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("make", [residual_net, lenet_like, sequence_net])
def test_lrp0_equals_gradient_times_input(make):
    """With output_relevance = logits * one_hot, LRP-0 on a ReLU net (biases, folded batch norm,
    max/average pooling, residual sum included) is gradient x input."""
    model = make()
    x = rng.normal(size=(3,) + tuple(model.inputs[0].shape[1:]))
    logits = model.predict(x)
    target = np.array([0, 2, 1])
    start = logits * np.eye(3)[target]
    R = lrp(model, x, rule=rules.Epsilon(0.0), output_relevance=start)
    np.testing.assert_allclose(R, gradient_x_input(model, x, target=target), rtol=1e-8, atol=1e-12)


def test_target_gives_unit_relevance_and_model_is_unchanged():
    model = residual_net()
    x = rng.normal(size=(2, 8, 8, 2))
    before, weights = model.predict(x), [w.copy() for w in model.get_weights()]
    R = lrp(model, x, target=1, rule=rules.Epsilon(0.0))
    assert R.shape == x.shape and R.dtype == x.dtype
    for w, w0 in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(model.predict(x), before)
    # LRP-0 with one_hot starts: the relevance sums to the fraction of the logit the biases do not explain
    assert np.all(np.isfinite(R))


def test_batch_norm_folding_equals_the_unfolded_forward():
    model = residual_net()
    graph = layer_graph(model)
    folded, bns = fold_batch_norms(graph)
    assert len(folded) == 2 and len(bns) == 2
    x = rng.normal(size=(2, 8, 8, 2))
    seen = {id(layer): (inputs, outputs) for layer, inputs, outputs in record_calls(model, x)}
    for call in graph:
        if id(call.layer) in bns:
            conv = call.inbound[0].layer
            (fn, params), = folded[id(conv)]
            conv_input = seen[id(conv)][0]
            np.testing.assert_allclose(fn([conv_input], params).data, seen[id(call.layer)][1].data,
                                       rtol=1e-12, atol=1e-12)


def test_residual_add_shares_relevance_by_contribution():
    inputs = Input((4,), dtype="float64")
    a, b = Dense(3, use_bias=False)(inputs), Dense(3, use_bias=False)(inputs)
    model = nnkit.Model(inputs, Add()([a, b]))
    A, B = model.layers[1].kernel.data, model.layers[2].kernel.data
    x, R = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
    eps = 0.05

    def stab(z):
        return z + eps * np.where(z >= 0, 1, -1)

    u, v = x @ A, x @ B
    ru, rv = u * R / stab(u + v), v * R / stab(u + v)
    expected = x * ((ru / stab(u)) @ A.T) + x * ((rv / stab(v)) @ B.T)
    np.testing.assert_allclose(lrp(model, x, rule=rules.Epsilon(eps), output_relevance=R), expected, rtol=1e-10)


def test_softmax_output_is_stepped_over():
    """A softmax at the output (fused into Dense, or its own layer) explains the logits."""
    plain = lenet_like()
    fused = lenet_like(activation="softmax", seed=1)
    fused.set_weights(plain.get_weights())
    separate = nnkit.Sequential([Input((12, 12, 1), dtype="float64")] + plain.layers + [nnkit.layers.Softmax()])
    x = rng.normal(size=(2, 12, 12, 1))
    expected = lrp(plain, x, target=2)
    np.testing.assert_allclose(lrp(fused, x, target=2), expected, rtol=1e-12)
    np.testing.assert_allclose(lrp(separate, x, target=2), expected, rtol=1e-12)
    np.testing.assert_allclose(gradient(fused, x, target=2), gradient(plain, x, target=2), rtol=1e-12)


def test_float32_model_and_default_target():
    model = lenet_like(dtype="float32")
    x = rng.uniform(0, 1, (3, 12, 12, 1)).astype(np.float32)
    R = lrp(model, x)
    assert R.dtype == np.float32 and R.shape == x.shape
    explicit = lrp(model, x, target=model.predict(x).argmax(axis=1))
    np.testing.assert_array_equal(R, explicit)


def test_integrated_gradients_is_exact_on_a_linear_model():
    model = nnkit.Sequential([Input((5,), dtype="float64"), Dense(3)])
    W = model.layers[-1].kernel.data
    x = rng.normal(size=(2, 5))
    base = rng.normal(size=(5,))
    got = integrated_gradients(model, x, target=[1, 2], baseline=base, steps=4)
    np.testing.assert_allclose(got, (x - base) * W[:, [1, 2]].T, rtol=1e-12)


def test_integrated_gradients_completeness_on_a_relu_net():
    model = lenet_like()
    x = rng.uniform(0, 1, (2, 12, 12, 1))
    ig = integrated_gradients(model, x, target=0, steps=256)
    logits, base = model.predict(x)[:, 0], model.predict(np.zeros_like(x))[:, 0]
    np.testing.assert_allclose(ig.reshape(2, -1).sum(axis=1), logits - base, rtol=2e-2, atol=1e-3)


# -- bad input --------------------------------------------------------------------------------
def test_unbuilt_model():
    with pytest.raises(ValueError, match="lrp: .*not built"):
        lrp(nnkit.Sequential([Dense(3)]), np.zeros((1, 4)))


@pytest.mark.parametrize("kwargs,message", [
    ({"target": [0, 1]}, r"target to be an int or 3 ints .* shape \(2,\)"),
    ({"target": 3}, r"target must be in \[0, 3\)"),
    ({"target": 0.5}, "target to be an int"),
    ({"output_relevance": np.ones((3, 2))}, r"output_relevance .* shape \(3, 3\)"),
    ({"target": 0, "output_relevance": np.ones((3, 3))}, "not both"),
    ({"rule": rules.Epsilon(), "composite": composites.EpsilonPlus()}, "rule or composite, not both"),
])
def test_bad_arguments(kwargs, message):
    model = lenet_like()
    with pytest.raises(ValueError, match=message):
        lrp(model, rng.normal(size=(3, 12, 12, 1)), **kwargs)


def test_bad_x():
    model = lenet_like()
    with pytest.raises(ValueError, match=r"lrp: expected x of shape \(N, 12, 12, 1\).*\(3, 12, 12\)"):
        lrp(model, np.zeros((3, 12, 12)))
    with pytest.raises(TypeError, match="lrp: expected x to be a float32 or float64 array, got int64"):
        lrp(model, np.zeros((1, 12, 12, 1), np.int64))


def test_layer_without_rule_is_named():
    inputs = Input((4,), dtype="float64")
    model = nnkit.Model(inputs, Subtract(name="difference")([Dense(3)(inputs), Dense(3)(inputs)]))
    with pytest.raises(ValueError, match="no relevance rule for layer 'difference' \\(Subtract\\)"):
        lrp(model, np.zeros((1, 4)))


def test_batch_norm_that_cannot_be_folded():
    model = nnkit.Sequential([Input((4,), dtype="float64"), BatchNormalization(name="bn0"), Dense(2)])
    with pytest.raises(ValueError, match="BatchNormalization 'bn0' follows 'the model input'"):
        lrp(model, np.zeros((1, 4)))
    model = nnkit.Sequential([Input((4,)), Dense(3, activation="relu", name="d"), BatchNormalization(), Dense(2)])
    with pytest.raises(ValueError, match="follows 'd', which has an activation"):
        lrp(model, np.zeros((1, 4), np.float32))


def test_subclassed_model_is_refused():
    class Net(nnkit.Model):
        def __init__(self):
            super().__init__()
            self.d = Dense(2)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 3), np.float32))
    with pytest.raises(TypeError, match="lrp: .*subclassed"):
        lrp(net, np.zeros((1, 3), np.float32))


def test_nested_model_and_batch_norm_read_twice():
    """A nested Sequential is opened (its batch norm folded); a batch norm whose input another layer
    also reads cannot be folded."""
    nnkit.set_seed(3)
    inner = nnkit.Sequential([Input((6,), dtype="float64"), Dense(5, use_bias=False), BatchNormalization(),
                              ReLU()])
    inputs = Input((6,), dtype="float64")
    model = randomize_bn(nnkit.Model(inputs, Dense(3)(inner(inputs))))
    randomize_bn(inner)
    x = rng.normal(size=(4, 6))
    start = model.predict(x) * np.eye(3)[[0, 1, 2, 0]]
    np.testing.assert_allclose(lrp(model, x, rule=rules.Epsilon(0.0), output_relevance=start),
                               gradient_x_input(model, x, target=[0, 1, 2, 0]), rtol=1e-8, atol=1e-12)
    inputs = Input((6,), dtype="float64")
    z = Dense(5, name="shared")(inputs)
    model = nnkit.Model(inputs, Dense(2)(Add()([BatchNormalization(name="bn")(z), z])))
    with pytest.raises(ValueError, match="cannot fold BatchNormalization 'bn' into 'shared': other layers"):
        lrp(model, x)
