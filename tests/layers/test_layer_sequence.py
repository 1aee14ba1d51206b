"""Sequence layers against Keras semantics: Conv1D (valid, same, causal, strides, dilation, groups), the 1-D
poolings, padding/cropping/upsampling, Embedding and LayerNormalization."""
import numpy as np
import pytest
from layer_helper import check_layer

import nnkit
from nnkit import Input, Model, Sequential, Tensor
from nnkit.layers import (AveragePooling1D, Conv1D, Cropping1D, Dense, Embedding, GlobalAveragePooling1D,
                          GlobalMaxPooling1D, LayerNormalization, MaxPooling1D, UpSampling1D, ZeroPadding1D)

rng = np.random.default_rng(6)


def conv1d_reference(x, w, b, stride, padding, dilation, groups):
    """A direct float64 loop: y[n, t, f] = sum_k,c x[n, t*s + k*d - pad, g*cg + c] w[k, c, f] + b[f]."""
    n, length, channels = x.shape
    k, cg, filters = w.shape
    span = (k - 1) * dilation + 1
    if padding == "causal":
        left, out = span - 1, -(-length // stride)
    elif padding == "same":
        out = -(-length // stride)
        total = max((out - 1) * stride + span - length, 0)
        left = total // 2
    else:
        left, out = 0, (length - span) // stride + 1
    y = np.zeros((n, out, filters))
    fg = filters // groups
    for t in range(out):
        for kk in range(k):
            src = t * stride + kk * dilation - left
            if 0 <= src < length:
                for f in range(filters):
                    g = f // fg
                    y[:, t, f] += x[:, src, g * cg:(g + 1) * cg] @ w[kk, :, f]
    return y + (b if b is not None else 0)


@pytest.mark.parametrize("padding, strides, dilation, groups", [
    ("valid", 1, 1, 1), ("same", 2, 1, 1), ("causal", 1, 2, 1), ("same", 1, 3, 2), ("valid", 3, 1, 2)])
def test_conv1d_matches_a_direct_loop_and_the_layer_contract(padding, strides, dilation, groups):
    kwargs = dict(filters=4, kernel_size=3, strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
    layer = check_layer(Conv1D, kwargs, (9, 4))
    x = rng.standard_normal((2, 9, 4))
    got = layer(Tensor(x.astype(np.float32))).data
    want = conv1d_reference(x, layer.kernel.data.astype(np.float64), layer.bias.data, strides, padding, dilation,
                            groups)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert layer.kernel.shape == (3, 4 // groups, 4)


def test_causal_convolution_never_sees_the_future():
    layer = Conv1D(1, 3, padding="causal", use_bias=False)
    x = rng.standard_normal((1, 6, 1)).astype(np.float32)
    base = layer(x).data
    later = x.copy()
    later[0, 4:] += 10.0
    np.testing.assert_array_equal(layer(later).data[0, :4], base[0, :4])


def test_poolings_padding_cropping_upsampling_values():
    x = np.arange(2 * 5 * 2, dtype=np.float32).reshape(2, 5, 2)
    np.testing.assert_array_equal(check_layer(MaxPooling1D, {}, (5, 2))(x).data, x[:, [1, 3]])
    same = AveragePooling1D(2, padding="same")(x).data
    np.testing.assert_allclose(same, np.stack([x[:, 0:2].mean(1), x[:, 2:4].mean(1), x[:, 4]], axis=1))
    check_layer(AveragePooling1D, dict(pool_size=3, strides=1, padding="same"), (5, 2))
    np.testing.assert_allclose(check_layer(GlobalAveragePooling1D, {}, (5, 2))(x).data, x.mean(1))
    np.testing.assert_array_equal(check_layer(GlobalMaxPooling1D, dict(keepdims=True), (5, 2))(x).data,
                                  x.max(1, keepdims=True))
    padded = check_layer(ZeroPadding1D, dict(padding=(1, 2)), (5, 2))(x).data
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (1, 2), (0, 0))))
    np.testing.assert_array_equal(check_layer(Cropping1D, dict(cropping=(1, 2)), (5, 2))(x).data, x[:, 1:3])
    np.testing.assert_array_equal(check_layer(UpSampling1D, dict(size=3), (5, 2))(x).data, np.repeat(x, 3, axis=1))


def test_embedding_lookup_gradient_and_mask():
    layer = Embedding(6, 3, mask_zero=True)
    ids = np.array([[1, 0, 5], [2, 2, 0]])
    out = layer(ids)
    np.testing.assert_array_equal(out.data, layer.embeddings.data[ids])
    out.sum().backward()
    counts = np.bincount(ids.ravel(), minlength=6)[:, None] * np.ones((1, 3))
    np.testing.assert_array_equal(layer.embeddings.grad, counts)  # repeated ids accumulate
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    assert np.all(np.abs(layer.embeddings.data) <= 0.05)  # Keras's "uniform": U(-0.05, 0.05)
    assert Embedding.from_config(layer.get_config()).get_config() == layer.get_config()
    np.testing.assert_array_equal(layer(ids.astype(np.float32)).data, out.data)  # integer-valued floats


def test_embedding_in_a_model_trains():
    model = Sequential([Input(shape=(4,)), Embedding(10, 5), GlobalAveragePooling1D(), Dense(2)])
    model.compile("adam", nnkit.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = rng.integers(0, 10, (32, 4)).astype(np.float32)
    labels = (ids[:, 0] > 4).astype(int)
    h = model.fit(ids, labels, epochs=5, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


@pytest.mark.parametrize("bad, error, match", [
    (np.array([[1, 6]]), ValueError, r"Embedding 'embedding': token ids must be in \[0, 6\)"),
    (np.array([[-1, 2]]), ValueError, r"token ids must be in \[0, 6\)"),
    (np.array([[1.5, 2]]), ValueError, "token ids must be integers"),
    (np.array([["a", "b"]]), TypeError, "token ids must be integers"),
])
def test_embedding_bad_ids(bad, error, match):
    with pytest.raises(error, match=match):
        Embedding(6, 2)(bad)


def test_layer_normalization_matches_keras_formula():
    x = rng.standard_normal((3, 4, 5))
    check_layer(LayerNormalization, {}, (4, 5))
    got = LayerNormalization()(Tensor(x)).data  # built float64 by a float64 input
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(got, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)
    check_layer(LayerNormalization, dict(axis=[1, 2], epsilon=1e-5), (4, 5))
    both = LayerNormalization(axis=[1, 2], epsilon=1e-5)
    both(Tensor(x))
    assert both.gamma.shape == (4, 5)
    mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    np.testing.assert_allclose(both(Tensor(x)).data, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
    with pytest.raises(ValueError, match="out of range"):
        LayerNormalization(axis=3)(np.zeros((2, 3)))


def test_bad_sequence_layer_arguments():
    with pytest.raises(ValueError, match="Conv1D 'conv1d': unknown padding 'full'"):
        Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match=r"expected a 3-D input \(batch, steps, features\)"):
        Conv1D(2, 3)(Input(shape=(4, 4, 1)))
    with pytest.raises(ValueError, match="shorter than the kernel span"):
        Model(*(lambda i: (i, Conv1D(2, 5)(i)))(Input(shape=(3, 2))))
    with pytest.raises(ValueError, match="cropping"):
        Cropping1D((2, 3))(np.zeros((1, 5, 1), np.float32))


@pytest.mark.parametrize("make, weight, prefix", [
    (lambda **kw: Conv1D(3, 2, **kw), "kernel", "kernel"),
    (lambda **kw: Conv1D(3, 2, **kw), "bias", "bias"),
    (lambda **kw: Embedding(5, 3, **kw), "embeddings", "embeddings"),
])
def test_weight_regularizers_and_constraints_as_keras(make, weight, prefix):
    layer = make(**{f"{prefix}_regularizer": nnkit.regularizers.L2(0.5), f"{prefix}_constraint": "non_neg"})
    x = np.array([[1, 2, 3, 4]]) if isinstance(layer, Embedding) else np.ones((1, 4, 2))
    layer(x)
    w = getattr(layer, weight).data
    w[...] = np.linspace(-1, 1, w.size).reshape(w.shape)
    (penalty,) = layer.losses
    np.testing.assert_allclose(penalty.data, 0.5 * np.sum(w.astype(np.float64) ** 2), rtol=1e-6)
    config = layer.get_config()
    assert config[f"{prefix}_regularizer"] == {"class_name": "L2", "config": {"l2": 0.5}}
    assert type(layer).from_config(config).get_config() == config
