"""Each LRP rule against its float64 NumPy formula, on a Dense layer and on convolutions (unrolled
to the matrix they apply, so the same formula checks them)."""
import numpy as np
import pytest

import nnkit
from nnkit.explain import lrp, rules
from nnkit.layers import Conv2D, Dense, DepthwiseConv2D, Flatten, Input, SeparableConv2D

rng = np.random.default_rng(0)


def stab(z, eps):
    return z + eps * np.where(z >= 0, 1.0, -1.0)


def pos(a):
    return np.maximum(a, 0)


def neg(a):
    return np.minimum(a, 0)


def formula(name, x, W, b, R, eps=1e-6, gamma=0.25, low=-1.0, high=2.0, support=None):
    """Input relevance of z = x @ W + b (x: (N, I), W: (I, O)) by zennit's definitions; ``support``:
    the matrix with the layer's parameters all one (Flat), all ones for a Dense layer."""
    xp, xn, Wp, Wn = pos(x), neg(x), pos(W), neg(W)
    if name == "epsilon":
        return x * ((R / stab(x @ W + b, eps)) @ W.T)
    if name == "zplus":
        s = R / stab(xp @ Wp + pos(b) + xn @ Wn, eps)
        return xp * (s @ Wp.T) + xn * (s @ Wn.T)
    if name == "alphabeta":
        sp = R / stab(xp @ Wp + pos(b) + xn @ Wn, eps)
        sn = R / stab(xp @ Wn + neg(b) + xn @ Wp, eps)
        return 2 * (xp * (sp @ Wp.T) + xn * (sp @ Wn.T)) - (xp * (sn @ Wn.T) + xn * (sn @ Wp.T))
    if name == "gamma":
        up, down = W + gamma * Wp, W + gamma * Wn
        z = x @ W + b
        sp = R * (z > 0) / stab(xp @ up + (b + gamma * pos(b)) + xn @ down, eps)
        sn = R * (z < 0) / stab(xp @ down + (b + gamma * neg(b)) + xn @ up, eps)
        return xp * (sp @ up.T) + xn * (sp @ down.T) + xp * (sn @ down.T) + xn * (sn @ up.T)
    if name == "zbox":
        lo, hi = np.full_like(x, low), np.full_like(x, high)
        s = R / stab(x @ W + b - (lo @ Wp + pos(b)) - (hi @ Wn + neg(b)), eps)
        return x * (s @ W.T) - lo * (s @ Wp.T) - hi * (s @ Wn.T)
    if name == "flat":
        ones = np.ones_like(W) if support is None else support
        return (R / stab(np.ones_like(x) @ ones, eps)) @ ones.T
    if name == "wsquare":
        return (R / stab(np.ones_like(x) @ (W * W) + b * b, eps)) @ (W * W).T
    raise KeyError(name)


RULES = {"epsilon": rules.Epsilon(1e-6), "zplus": rules.ZPlus(), "alphabeta": rules.AlphaBeta(2, 1),
         "gamma": rules.Gamma(0.25), "zbox": rules.ZBox(-1.0, 2.0), "flat": rules.Flat(),
         "wsquare": rules.WSquare()}


def conv_matrix(kernel, in_hw, out_hw, strides, pads, groups=1):
    """The (H*W*C, H'*W'*F) matrix a convolution applies, built by loops."""
    kh, kw, cg, f = kernel.shape
    (h, w), (oh, ow) = in_hw, out_hw
    c = cg * groups
    fg = f // groups
    M = np.zeros((h, w, c, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for bb in range(kw):
                    y, x = i * strides - pads + a, j * strides - pads + bb
                    if 0 <= y < h and 0 <= x < w:
                        for o in range(f):
                            g = o // fg
                            M[y, x, g * cg:(g + 1) * cg, i, j, o] = kernel[a, bb, :, o]
    return M.reshape(h * w * c, oh * ow * f)


def explain(model, x, R, rule):
    return lrp(model, x, rule=rule, output_relevance=R)


@pytest.mark.parametrize("name", sorted(RULES))
def test_dense_rule_matches_formula(name):
    model = nnkit.Sequential([Input((5,), dtype="float64"), Dense(4, bias_initializer="glorot_uniform")])
    x = rng.normal(size=(3, 5))
    R = rng.normal(size=(3, 4))
    W, b = model.layers[-1].kernel.data, model.layers[-1].bias.data
    np.testing.assert_allclose(explain(model, x, R, RULES[name]), formula(name, x, W, b, R), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["zplus", "alphabeta", "gamma"])
def test_non_negative_inputs_skip_the_negative_variants(name):
    """After a ReLU the x- variants vanish; the rules skip them and still match the formula."""
    model = nnkit.Sequential([Input((5,), dtype="float64"), Dense(4, bias_initializer="glorot_uniform")])
    x = np.abs(rng.normal(size=(3, 5)))
    x[0, 1] = 0.0
    R = rng.normal(size=(3, 4))
    W, b = model.layers[-1].kernel.data, model.layers[-1].bias.data
    np.testing.assert_allclose(explain(model, x, R, RULES[name]), formula(name, x, W, b, R), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("strides,padding,pads,out", [(1, "valid", 0, 3), (2, "same", 1, 3)])
def test_conv_rule_matches_formula(name, strides, padding, pads, out):
    conv = Conv2D(4, 3, strides=strides, padding=padding, bias_initializer="glorot_uniform")
    model = nnkit.Sequential([Input((5, 5, 2), dtype="float64"), conv, Flatten()])
    x = rng.normal(size=(2, 5, 5, 2))
    R = rng.normal(size=(2, out * out * 4))
    M = conv_matrix(conv.kernel.data, (5, 5), (out, out), strides, pads)
    b = np.tile(conv.bias.data, out * out)
    ones = conv_matrix(np.ones_like(conv.kernel.data), (5, 5), (out, out), strides, pads)
    expected = formula(name, x.reshape(2, -1), M, b, R, support=ones).reshape(x.shape)
    np.testing.assert_allclose(explain(model, x, R, RULES[name]), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["epsilon", "gamma", "zplus", "flat"])
def test_depthwise_rule_matches_formula(name):
    layer = DepthwiseConv2D(3, depth_multiplier=2, bias_initializer="glorot_uniform")
    model = nnkit.Sequential([Input((4, 4, 2), dtype="float64"), layer, Flatten()])
    x = rng.normal(size=(2, 4, 4, 2))
    R = rng.normal(size=(2, 2 * 2 * 4))
    kernel = layer.depthwise_kernel.data.reshape(3, 3, 1, 4)
    M = conv_matrix(kernel, (4, 4), (2, 2), 1, 0, groups=2)
    ones = conv_matrix(np.ones_like(kernel), (4, 4), (2, 2), 1, 0, groups=2)
    expected = formula(name, x.reshape(2, -1), M, np.tile(layer.bias.data, 4), R, support=ones).reshape(x.shape)
    np.testing.assert_allclose(explain(model, x, R, RULES[name]), expected, rtol=1e-9, atol=1e-12)


def test_separable_conv_is_two_stages():
    """A SeparableConv2D is explained as its depthwise then its pointwise convolution."""
    layer = SeparableConv2D(3, 3, bias_initializer="glorot_uniform")
    model = nnkit.Sequential([Input((4, 4, 2), dtype="float64"), layer, Flatten()])
    x = rng.normal(size=(2, 4, 4, 2))
    R = rng.normal(size=(2, 2 * 2 * 3))
    D = conv_matrix(layer.depthwise_kernel.data.reshape(3, 3, 1, 2), (4, 4), (2, 2), 1, 0, groups=2)
    P = conv_matrix(layer.pointwise_kernel.data, (2, 2), (2, 2), 1, 0)
    xf = x.reshape(2, -1)
    middle = formula("gamma", xf @ D, P, np.tile(layer.bias.data, 4), R)
    expected = formula("gamma", xf, D, np.zeros(D.shape[1]), middle).reshape(x.shape)
    np.testing.assert_allclose(explain(model, x, R, RULES["gamma"]), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
def test_relu_passes_relevance_between_rules(fused):
    """Dense(relu) -> Dense: the upper rule's relevance reaches the lower rule unchanged, fused or not."""
    layers = [Input((5,), dtype="float64"), Dense(6, activation="relu", bias_initializer="glorot_uniform")]
    if not fused:
        layers[1] = Dense(6, bias_initializer="glorot_uniform")
        layers.append(nnkit.layers.ReLU())
    model = nnkit.Sequential(layers + [Dense(3, bias_initializer="glorot_uniform")])
    d1, d2 = model.layers[0], model.layers[-1]
    x = rng.normal(size=(4, 5))
    R = rng.normal(size=(4, 3))
    rule = rules.Epsilon(0.01)
    a = np.maximum(x @ d1.kernel.data + d1.bias.data, 0)
    middle = formula("epsilon", a, d2.kernel.data, d2.bias.data, R, eps=0.01)
    expected = formula("epsilon", x, d1.kernel.data, d1.bias.data, middle, eps=0.01)
    np.testing.assert_allclose(explain(model, x, R, rule), expected, rtol=1e-9, atol=1e-12)


def test_zero_params_bias_drops_the_bias():
    model = nnkit.Sequential([Input((5,), dtype="float64"), Dense(4, bias_initializer="glorot_uniform")])
    x, R = rng.normal(size=(3, 5)), rng.normal(size=(3, 4))
    W = model.layers[-1].kernel.data
    got = explain(model, x, R, rules.ZPlus(zero_params="bias"))
    np.testing.assert_allclose(got, formula("zplus", x, W, np.zeros(4), R), rtol=1e-9, atol=1e-12)


def test_stabilizer_sign_of_zero_is_plus():
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(rules.stabilize(z, 0.5), [-2.5, 0.5, 3.5])


@pytest.mark.parametrize("make,message", [
    (lambda: rules.AlphaBeta(1.0, 1.0), "alpha - beta must be 1"),
    (lambda: rules.Epsilon(-1.0), "epsilon"),
    (lambda: rules.Gamma(gamma=float("nan")), "gamma"),
    (lambda: rules.ZPlus(zero_params="weights"), "zero_params"),
])
def test_bad_rule_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
