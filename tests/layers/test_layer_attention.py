"""Dot, Attention, AdditiveAttention and MultiHeadAttention against float64 NumPy formulas (Keras 3 semantics),
masks (padding, causal), gradients, config round trips and bad input."""
import numpy as np
import pytest
from layer_helper import check_layer

from gradcheck import numeric_grad
from nnkit import Input, Model, Tensor
from nnkit.layers import AdditiveAttention, Attention, Dot, MultiHeadAttention

rng = np.random.default_rng(7)


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_dot_rank2_rank3_and_cosine():
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(Dot(axes=1)([Tensor(a), Tensor(b)]).data, (a * b).sum(1, keepdims=True))
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(Dot(axes=1, normalize=True)([Tensor(a), Tensor(b)]).data[:, 0], cos, rtol=1e-12)
    x, y = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 6, 4))
    np.testing.assert_allclose(Dot(axes=2)([Tensor(x), Tensor(y)]).data, np.einsum("btd,bsd->bts", x, y))
    np.testing.assert_allclose(Dot(axes=(1, 1))([Tensor(x), Tensor(rng.standard_normal((2, 5, 3)))]).data.shape,
                               (2, 4, 3))
    check_layer(Dot, dict(axes=2), [(5, 4), (6, 4)], expected_shape=(None, 5, 6))
    with pytest.raises(ValueError, match="axes .* have sizes 4 and 3"):
        Dot(axes=2)([Input(shape=(5, 4)), Input(shape=(5, 3))])


def test_attention_dot_and_concat_scores_with_masks():
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer = Attention()
    out, w = layer([Tensor(q), Tensor(v)], mask=[None, mask], return_attention_scores=True)
    s = np.einsum("btd,bsd->bts", q, v)
    s = np.where(mask[:, None, :], s, -1e9)
    np.testing.assert_allclose(w.data, softmax(s), rtol=1e-12)
    np.testing.assert_allclose(out.data, softmax(s) @ v, rtol=1e-12)
    concat = Attention(score_mode="concat", use_scale=True)
    got = concat([Tensor(q), Tensor(v)], use_causal_mask=True).data
    s = np.tanh(q[:, :, None, :] + v[:, None, :, :]).sum(-1)
    s = np.where(np.tril(np.ones((3, 5), bool)), s, -1e9)
    np.testing.assert_allclose(got, softmax(s) @ v, rtol=1e-12)
    check_layer(Attention, dict(use_scale=True), [(3, 4), (5, 4)], expected_shape=(None, 3, 4),
                expected_params=1)


def test_additive_attention_formula():
    q, v, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 5, 4))
    layer = AdditiveAttention()
    out = layer([Tensor(q), Tensor(v), Tensor(k)]).data
    scale = layer.scale.data
    s = (np.tanh(q[:, :, None, :] + k[:, None, :, :]) * scale).sum(-1)
    np.testing.assert_allclose(out, softmax(s) @ v, rtol=1e-12)
    check_layer(AdditiveAttention, {}, [(3, 4), (5, 4)], expected_shape=(None, 3, 4), expected_params=4)


def mha_reference(layer, q, v, k, mask=None, causal=False):
    def proj(x, kernel, bias):
        return np.einsum("btd,dhu->bhtu", x, kernel) + bias[None, :, None, :]
    (qk, qb), (kk, kb), (vk, vb) = [(w.data, b.data) for w, b in (layer._query, layer._key, layer._value)]
    qh, kh, vh = proj(q, qk, qb) / np.sqrt(layer.key_dim), proj(k, kk, kb), proj(v, vk, vb)
    s = np.einsum("bhtu,bhsu->bhts", qh, kh)
    allowed = np.ones(s.shape, bool)
    if mask is not None:
        allowed &= mask[:, None]
    if causal:
        allowed &= np.tril(np.ones(s.shape[-2:], bool))
    w = softmax(np.where(allowed, s, -1e9))
    ctx = np.einsum("bhts,bhsu->bhtu", w, vh)
    return np.einsum("bhtu,huo->bto", ctx, layer.output_kernel.data) + layer.output_bias.data, w


def test_multi_head_attention_keras_weights_and_formula():
    q, v = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 3))
    layer = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2)
    mask = rng.random((2, 4, 5)) > 0.3
    out, scores = layer(Tensor(q), Tensor(v), attention_mask=mask, return_attention_scores=True)
    assert [w.name.split("/", 1)[1] for w in layer.weights] == [
        "query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel", "value/bias",
        "attention_output/kernel", "attention_output/bias"]
    assert layer._query[0].shape == (6, 2, 3) and layer._value[0].shape == (3, 2, 2)
    assert layer.output_kernel.shape == (2, 2, 6)
    want, w = mha_reference(layer, q, v, v, mask)
    np.testing.assert_allclose(out.data, want, rtol=1e-10)
    np.testing.assert_allclose(scores.data, w, rtol=1e-10)
    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    got = layer(Tensor(q), Tensor(v), value_mask=padding, attention_mask=mask).data
    np.testing.assert_allclose(got, mha_reference(layer, q, v, v, mask & padding[:, None, :])[0], rtol=1e-10)


def test_multi_head_self_attention_causal_gradient_and_model():
    x = rng.standard_normal((2, 4, 5))
    layer = MultiHeadAttention(num_heads=2, key_dim=2)
    xt = Tensor(x, requires_grad=True)
    out = layer(xt, xt, use_causal_mask=True)
    want, _ = mha_reference(layer, x, x, x, causal=True)
    np.testing.assert_allclose(out.data, want, rtol=1e-10)
    weights = rng.standard_normal(out.shape)
    (out * Tensor(weights)).sum().backward()

    def loss(arrays):
        return float((layer(Tensor(arrays[0]), Tensor(arrays[0]), use_causal_mask=True).data * weights).sum())
    np.testing.assert_allclose(xt.grad, numeric_grad(loss, [x], 0), rtol=1e-5, atol=1e-8)
    i = Input(shape=(4, 5))
    model = Model(i, MultiHeadAttention(num_heads=2, key_dim=2, name="mha")(i, i))
    again = Model.from_config(model.get_config())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(x.astype(np.float32), verbose=0),
                               model.predict(x.astype(np.float32), verbose=0), rtol=1e-6)


def test_attention_bad_input():
    with pytest.raises(ValueError, match=r"Attention 'attention': expects \[query, value\]"):
        Attention()(Tensor(rng.standard_normal((2, 3, 4))))
    with pytest.raises(ValueError, match="score_mode must be 'dot' or 'concat'"):
        Attention(score_mode="general")
    with pytest.raises(ValueError, match=r"MultiHeadAttention .*expected num_heads to be a positive integer below 2\*\*62, got 0"):
        MultiHeadAttention(num_heads=0, key_dim=2)
    with pytest.raises(ValueError, match="does not fit attention scores"):
        MultiHeadAttention(2, 2)(Tensor(rng.standard_normal((2, 4, 5))), attention_mask=np.ones((2, 3, 3), bool))
