"""Keras 3 mask propagation: masks on Tensors, mask= into call, compute_mask after it, through models,
losses, metrics, fit/evaluate/predict, merges and attention; and the Masking layer."""
import json
import warnings

import numpy as np
import pytest

import nnkit
from layer_helper import check_layer
from nnkit import Input, Tensor, layers
from nnkit.tensor import get_keras_mask, set_keras_mask

IDS = np.array([[3, 1, 4, 0, 0], [2, 7, 0, 0, 0], [5, 0, 0, 0, 0]])
MASK = IDS != 0


def embedding(**kwargs):
    return layers.Embedding(10, 4, mask_zero=True, **kwargs)


class MaskRecorder(nnkit.layers.Layer):
    """A layer whose call takes ``mask`` (like a recurrent layer) and records what it received."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, inputs, mask=None, training=None):
        self.seen.append(mask)
        return inputs * 2.0

    def compute_mask(self, inputs, mask=None):
        return mask


# -- the rule in Layer.__call__ ---------------------------------------------------------------------------
def test_embedding_mask_reaches_a_call_with_a_mask_argument_and_passes_through_supporting_layers():
    rec = MaskRecorder()
    x = embedding()(IDS)
    np.testing.assert_array_equal(get_keras_mask(x), MASK)
    y = layers.Dropout(0.5)(layers.LayerNormalization()(layers.Dense(3, activation="relu")(x)))
    np.testing.assert_array_equal(get_keras_mask(y), MASK)
    out = rec(y)
    np.testing.assert_array_equal(rec.seen[-1], MASK)
    np.testing.assert_array_equal(get_keras_mask(out), MASK)


def test_no_mask_means_no_mask_argument_and_an_explicit_mask_wins():
    rec = MaskRecorder()
    rec(np.ones((2, 3, 4), np.float32))
    assert rec.seen[-1] is None
    x = embedding()(IDS)
    mine = np.ones(MASK.shape, bool)
    out = rec(x, mask=mine)
    assert rec.seen[-1] is mine
    np.testing.assert_array_equal(get_keras_mask(out), mine)  # compute_mask gets the mask that was passed


def test_a_list_input_gives_a_list_of_masks_with_none_for_unmasked_inputs():
    seen = []

    class Pair(nnkit.layers.Layer):
        _supports_masking = True

        def call(self, inputs, mask=None):
            seen.append(mask)
            return inputs[0] + inputs[1]

    masked = embedding()(IDS)
    plain = Tensor(np.zeros(masked.shape, np.float32))
    Pair()([masked, plain])
    assert isinstance(seen[-1], list) and seen[-1][1] is None
    np.testing.assert_array_equal(seen[-1][0], MASK)


def test_supports_masking_defaults_as_keras():
    class Plain(nnkit.layers.Layer):
        def call(self, inputs):
            return inputs * 1.0

    class Custom(Plain):
        def compute_mask(self, inputs, mask=None):
            return np.asarray(inputs.data[..., 0] > 0)

    assert not Plain().supports_masking and Custom().supports_masking
    assert layers.Dense(2).supports_masking and not layers.Flatten().supports_masking
    assert layers.Embedding(5, 2, mask_zero=True).supports_masking
    assert not layers.Embedding(5, 2).supports_masking
    plain = Plain()
    plain.supports_masking = True
    x = embedding()(IDS)
    np.testing.assert_array_equal(get_keras_mask(plain(x)), MASK)  # the default compute_mask: unchanged
    made = Custom()(Tensor(np.array([[[1.0], [-1.0]]], np.float32)))
    np.testing.assert_array_equal(get_keras_mask(made), [[True, False]])


def test_a_layer_without_mask_support_drops_the_mask_with_a_warning():
    x = embedding()(IDS)
    with pytest.warns(UserWarning, match="Flatten 'flat' received an input with a mask"):
        y = layers.Flatten(name="flat")(x)
    assert get_keras_mask(y) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers.Flatten()(Tensor(np.ones((2, 3, 4), np.float32)))  # no mask, no warning


def test_a_cast_keeps_the_mask():
    x = embedding()(IDS)
    rec = MaskRecorder(dtype="float64")
    out = rec(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(rec.seen[-1], MASK)


def test_a_mask_that_does_not_fit_is_a_clear_error():
    x = embedding()(IDS)
    bad = np.ones((3, 4), bool)
    with pytest.raises(ValueError, match="GlobalAveragePooling1D 'gap'.*mask must have shape"):
        layers.GlobalAveragePooling1D(name="gap")(x, mask=bad)


# -- through models ---------------------------------------------------------------------------------------
def _sequential():
    return nnkit.Sequential([Input((5,)), embedding(), layers.Dense(3), layers.Dense(2)])


def _functional():
    inp = Input((5,))
    return nnkit.Model(inp, layers.Dense(2)(layers.Dense(3)(embedding()(inp))))


def _nested():
    inner_in = Input((5, 4))
    inner = nnkit.Model(inner_in, layers.Dense(3)(inner_in), name="inner")
    inp = Input((5,))
    return nnkit.Model(inp, layers.Dense(2)(inner(embedding()(inp))))


@pytest.mark.parametrize("build", [_sequential, _functional, _nested], ids=["sequential", "functional", "nested"])
def test_models_carry_masks_to_their_outputs(build):
    model = build()
    np.testing.assert_array_equal(get_keras_mask(model(IDS)), MASK)


def test_a_nested_model_delivers_the_mask_to_its_layers():
    rec = MaskRecorder()
    inner_in = Input((5, 4))
    inner = nnkit.Model(inner_in, rec(inner_in))
    outer = nnkit.Sequential([Input((5,)), embedding(), inner])
    out = outer(IDS)
    np.testing.assert_array_equal(rec.seen[-1], MASK)
    np.testing.assert_array_equal(get_keras_mask(out), MASK)


def test_model_call_takes_a_mask_for_its_input():
    rec = MaskRecorder()
    seq = nnkit.Sequential([Input((5, 4)), rec])
    x = np.ones((3, 5, 4), np.float32)
    seq(x, mask=MASK)
    np.testing.assert_array_equal(rec.seen[-1], MASK)
    inp = Input((5, 4))
    rec2 = MaskRecorder()
    nnkit.Model(inp, rec2(inp))(x, mask=[MASK])
    np.testing.assert_array_equal(rec2.seen[-1], MASK)


# -- merges ------------------------------------------------------------------------------------------------
def _two_masked():
    a = Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    b = Tensor(-np.arange(24, dtype=np.float32).reshape(2, 3, 4) + 5)
    ma = np.array([[True, True, False], [True, False, False]])
    mb = np.array([[True, False, False], [False, True, False]])
    set_keras_mask(a, ma)
    set_keras_mask(b, mb)
    return a, b, ma, mb


def test_elementwise_merges_or_the_masks_when_all_inputs_have_one():
    a, b, ma, mb = _two_masked()
    for cls in (layers.Add, layers.Subtract, layers.Average, layers.Multiply, layers.Maximum, layers.Minimum):
        out = cls()([a, b])
        np.testing.assert_array_equal(get_keras_mask(out), ma | mb, err_msg=cls.__name__)
    plain = Tensor(np.ones((2, 3, 4), np.float32))
    assert get_keras_mask(layers.Add()([a, plain])) is None
    np.testing.assert_array_equal(layers.Add()([a, b]).numpy(), a.numpy() + b.numpy())  # Add ignores masks


def test_maximum_minimum_and_multiply_skip_masked_entries_as_keras():
    a, b, ma, mb = _two_masked()
    A, B = a.numpy(), b.numpy()
    fa, fb = ma[..., None], mb[..., None]
    # a masked entry takes the other operand's value (both masked: the first input's)
    second = np.where(fb, B, A)
    first = np.where(fa, A, second)
    np.testing.assert_array_equal(layers.Maximum()([a, b]).numpy(), np.maximum(first, second))
    np.testing.assert_array_equal(layers.Minimum()([a, b]).numpy(), np.minimum(first, second))
    assert np.array_equal(np.maximum(first, second)[0, 0], np.maximum(A, B)[0, 0])  # both valid: the plain max
    # Multiply: a masked factor counts as 1; where every input is masked the output is 0
    want_mul = np.where(fa | fb, np.where(fa, A, 1) * np.where(fb, B, 1), 0)
    np.testing.assert_array_equal(layers.Multiply()([a, b]).numpy(), want_mul)


def test_concatenate_joins_masks():
    a, b, ma, mb = _two_masked()
    features = layers.Concatenate()([a, b])  # along the features: any step valid in either
    np.testing.assert_array_equal(get_keras_mask(features), ma | mb)
    steps = layers.Concatenate(axis=1)([a, b])
    np.testing.assert_array_equal(get_keras_mask(steps), np.concatenate([ma, mb], axis=1))
    plain = Tensor(np.ones((2, 3, 4), np.float32))
    np.testing.assert_array_equal(get_keras_mask(layers.Concatenate(axis=1)([a, plain])),
                                  np.concatenate([ma, np.ones((2, 3), bool)], axis=1))


def test_dot_and_global_average_pooling_end_the_mask():
    a, b, ma, _ = _two_masked()
    assert get_keras_mask(layers.Dot(axes=2)([a, b])) is None
    pooled = layers.GlobalAveragePooling1D()(a)
    assert get_keras_mask(pooled) is None
    A = a.numpy()
    want = (A * ma[..., None]).sum(1) / ma.sum(1, keepdims=True)
    np.testing.assert_allclose(pooled.numpy(), want, rtol=1e-6)


def test_masked_global_average_pooling_gradient():
    from gradcheck import check_grad
    m = np.array([[True, True, False], [True, False, True]])
    layer = layers.GlobalAveragePooling1D(dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    check_grad(lambda t: layer(t, mask=m), x)


# -- attention ---------------------------------------------------------------------------------------------
def test_attention_layers_use_the_masks_of_embedded_inputs():
    q_ids = np.array([[1, 2, 0], [3, 0, 0], [4, 5, 6]])
    emb = embedding()
    q, v = emb(q_ids), emb(IDS)
    qm, vm = q_ids != 0, MASK
    for layer in (layers.Attention(), layers.AdditiveAttention()):
        auto = layer([q, v])
        explicit = layer([Tensor(q.numpy()), Tensor(v.numpy())], mask=[qm, vm])
        np.testing.assert_allclose(auto.numpy(), explicit.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(get_keras_mask(auto), qm)
        assert np.all(auto.numpy()[~qm] == 0)  # masked query steps are zeroed
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    auto = mha(q, v)
    explicit = mha(Tensor(q.numpy()), Tensor(v.numpy()), query_mask=qm, value_mask=vm)
    np.testing.assert_allclose(auto.numpy(), explicit.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(get_keras_mask(auto), qm)
    unmasked = mha(Tensor(q.numpy()), Tensor(v.numpy()))
    assert not np.allclose(unmasked.numpy(), auto.numpy())


def test_attention_in_a_functional_model_with_embedding_masks():
    inp = Input((5,))
    x = embedding()(inp)
    out = layers.GlobalAveragePooling1D()(layers.MultiHeadAttention(num_heads=2, key_dim=2)(x, x))
    model = nnkit.Model(inp, layers.Dense(1)(out))
    with nnkit.no_grad():
        a = model(IDS).numpy()
    # changing the embedding of the padding id does not change the outputs: padding is masked everywhere
    emb = model.layers[1]
    emb.embeddings.data[0] += 5.0
    with nnkit.no_grad():
        np.testing.assert_allclose(model(IDS).numpy(), a, rtol=1e-5, atol=1e-6)


# -- losses and metrics ----------------------------------------------------------------------------------------
def _masked_regressor():
    model = nnkit.Sequential([Input((5,)), embedding(embeddings_initializer="glorot_uniform"), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    return model


def test_the_loss_leaves_masked_steps_out():
    model = _masked_regressor()
    y = np.random.default_rng(1).standard_normal((3, 5, 1)).astype(np.float32)
    y_pred = model(IDS)
    got = float(model.compute_loss(IDS, y, y_pred).data)
    err = ((y_pred.numpy() - y) ** 2)[..., 0]
    want = err[MASK].mean()  # the mean over the valid steps only
    np.testing.assert_allclose(got, want, rtol=1e-6)
    weights = np.array([1.0, 2.0, 0.5], np.float32)
    got_w = float(nnkit.losses.MeanSquaredError()(y, y_pred, sample_weight=weights).data)
    want_w = (err * weights[:, None] * MASK).sum() / MASK.sum()
    np.testing.assert_allclose(got_w, want_w, rtol=1e-6)


def test_sparse_crossentropy_combines_the_mask_with_ignore_class():
    logits = Tensor(np.random.default_rng(2).standard_normal((3, 5, 4)).astype(np.float32))
    set_keras_mask(logits, MASK)
    labels = np.array([[1, -1, 2, 0, 0], [3, 0, 1, 1, 1], [2, 2, 2, 2, 2]])
    loss = nnkit.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    got = float(loss(labels, logits).data)
    z = logits.numpy()
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    per = -np.take_along_axis(logp, np.clip(labels, 0, None)[..., None], -1)[..., 0]
    valid = MASK & (labels != -1)
    np.testing.assert_allclose(got, per[valid].mean(), rtol=1e-5)


def test_evaluate_loss_and_mean_metrics_are_masked():
    model = _masked_regressor()
    y = np.random.default_rng(3).standard_normal((3, 5, 1)).astype(np.float32)
    logs = model.evaluate(IDS, y, batch_size=3, return_dict=True, verbose=0)
    with nnkit.no_grad():
        pred = model(IDS).numpy()[..., 0]
    np.testing.assert_allclose(logs["loss"], ((pred - y[..., 0]) ** 2)[MASK].mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["mae"], np.abs(pred - y[..., 0])[MASK].mean(), rtol=1e-5)


def test_fit_trains_on_valid_steps_only_and_runs_eagerly():
    model = _masked_regressor()
    assert model._training_plan(IDS.astype(np.float32)) is None
    assert model._inference_plan(IDS.astype(np.float32)) is None
    y = np.zeros((3, 5, 1), np.float32)
    y[~MASK] = 1e3  # huge targets at padded steps: they must not reach the loss or the gradients
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(IDS, y, epochs=3, batch_size=3, verbose=0)
    assert all(np.isfinite(v) and v < 10 for v in history.history["loss"])
    assert history.history["loss"][-1] < history.history["loss"][0]
    emb_before, emb_after = before[0], model.get_weights()[0]
    np.testing.assert_array_equal(emb_after[0], emb_before[0])  # id 0 (padding) gets no gradient
    np.testing.assert_array_equal(emb_after[8], emb_before[8])  # an id never seen: no gradient either


def test_predict_of_a_masked_model_equals_its_eager_call_and_compile_for_inference_refuses():
    model = _masked_regressor()
    with nnkit.no_grad():
        want = model(IDS).numpy()
    np.testing.assert_array_equal(model.predict(IDS, batch_size=2), want)
    with pytest.raises(TypeError, match="makes masks"):
        model.compile_for_inference(batch_size=3)


def test_models_without_mask_makers_still_plan():
    model = nnkit.Sequential([Input((4,)), layers.Dense(3), layers.Dense(2)])
    model.compile("sgd", "mse")
    x = np.ones((2, 4), np.float32)
    assert model._inference_plan(x) is not None and model._training_plan(x) is not None


# -- the Masking layer -------------------------------------------------------------------------------------------
def test_masking_contract():
    check_layer(layers.Masking, dict(mask_value=0.5), (3, 4), (None, 3, 4), 0)


def test_masking_zeroes_and_masks_the_steps_equal_to_mask_value():
    x = np.random.default_rng(4).standard_normal((2, 4, 3)).astype(np.float32)
    x[0, 1] = -1.0
    x[1, 3] = -1.0
    x[1, 0, 0] = -1.0  # one feature equal to mask_value is not enough
    out = layers.Masking(mask_value=-1.0)(x)
    want_mask = np.array([[True, False, True, True], [True, True, True, False]])
    np.testing.assert_array_equal(get_keras_mask(out), want_mask)
    np.testing.assert_array_equal(out.numpy(), np.where(want_mask[..., None], x, 0))
    rec = MaskRecorder()
    nnkit.Sequential([Input((4, 3)), layers.Masking(-1.0), layers.Dense(2), rec])(x)
    np.testing.assert_array_equal(rec.seen[-1], want_mask)


def test_masking_gradient_is_zero_at_masked_steps():
    from gradcheck import check_grad
    x = np.random.default_rng(5).standard_normal((2, 3, 2))
    layer = layers.Masking(dtype="float64")
    check_grad(lambda t: layer(t), x)  # away from mask_value the layer is the identity
    x[0, 2] = 0.0
    t = Tensor(x, requires_grad=True)
    layer(t).sum().backward()
    assert np.all(t.grad[0, 2] == 0) and np.all(t.grad[1] == 1)


def test_masking_bad_input():
    with pytest.raises(TypeError, match="Masking 'm'.*mask_value must be a number"):
        layers.Masking(mask_value="zero", name="m")
    with pytest.raises(ValueError, match="Masking 'm2'.*expects inputs"):
        layers.Masking(name="m2")(Tensor(np.ones(3, np.float32)))


def test_masked_model_save_load_round_trip(tmp_path):
    inp = Input((5,))
    x = embedding()(inp)
    x = layers.TimeDistributed(layers.Dense(6))(x)
    x = layers.GroupNormalization(groups=3)(x)
    x = layers.SpatialDropout1D(0.3)(x)
    out = layers.Dense(1)(layers.GlobalAveragePooling1D()(x))
    model = nnkit.Model(inp, out)
    path = tmp_path / "masked.nnk"
    model.save(path)
    again = nnkit.load_model(path)
    with nnkit.no_grad():
        np.testing.assert_allclose(again.predict(IDS), model.predict(IDS), rtol=1e-6)
    assert json.loads(again.to_json()) == json.loads(model.to_json())
    seq = nnkit.Sequential([Input((4, 3)), layers.Masking(0.0), layers.Dense(2)])
    seq.save(tmp_path / "seq.nnk")
    back = nnkit.load_model(tmp_path / "seq.nnk")
    x = np.zeros((2, 4, 3), np.float32)
    x[0, 0] = 1.0
    np.testing.assert_array_equal(get_keras_mask(back(x)), [[True, False, False, False], [False] * 4])


def test_softmax_with_a_mask_as_keras():
    from gradcheck import check_grad
    x = np.random.default_rng(6).standard_normal((2, 3, 4))
    m = np.array([[True, False, True, True], [False, False, False, False], [True, True, True, False]])
    layer = layers.Softmax(dtype="float64")
    y = layer(x, mask=m).numpy()
    e = np.where(m, np.exp(x - x.max(-1, keepdims=True)), 0)
    with np.errstate(invalid="ignore"):
        want = np.nan_to_num(e / e.sum(-1, keepdims=True))  # a fully masked row is all zeros
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-15)
    check_grad(lambda t: layer(t, mask=m), x)
    # a (batch, steps) mask from an embedding leaves the softmax over the classes alone and travels on
    emb = embedding()(IDS)
    out = layers.Softmax()(layers.Dense(3)(emb))
    np.testing.assert_allclose(out.numpy().sum(-1), 1, rtol=1e-6)
    np.testing.assert_array_equal(get_keras_mask(out), MASK)
    with pytest.raises(ValueError, match="Softmax 'sm'.*must broadcast"):
        layers.Softmax(name="sm")(np.ones((2, 3, 4), np.float32), mask=np.ones((5,), bool))


def test_batch_normalization_takes_masked_moments_in_training():
    from gradcheck import check_grad
    x = np.random.default_rng(7).standard_normal((3, 5, 4)) * 2 + 1
    bn = layers.BatchNormalization(momentum=0.5, dtype="float64", gamma_initializer="random_normal",
                                   beta_initializer="random_normal")
    bn(x)  # build
    gamma, beta = bn.gamma.data.copy(), bn.beta.data.copy()
    y = bn(x, mask=MASK, training=True).numpy()
    valid = x[MASK]  # (n_valid, 4)
    count = MASK.sum() + 1e-7
    mean = valid.sum(0) / count
    var = ((valid - mean) ** 2).sum(0) / count
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + bn.epsilon) * gamma + beta, rtol=1e-10)
    np.testing.assert_allclose(bn.moving_mean.data, 0.5 * 0 + 0.5 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.data, 0.5 * 1 + 0.5 * var, rtol=1e-12)
    # inference ignores the mask (moving statistics), and the mask travels on
    inference = bn(x, mask=MASK).numpy()
    np.testing.assert_allclose(inference, bn(x).numpy())
    emb = embedding()(IDS)
    np.testing.assert_array_equal(get_keras_mask(layers.BatchNormalization()(emb, training=True)), MASK)
    fresh = layers.BatchNormalization(momentum=0.5, dtype="float64")
    check_grad(lambda t: fresh(t, mask=MASK, training=True), x)
    with pytest.raises(ValueError, match="BatchNormalization 'bn'.*without its channels"):
        layers.BatchNormalization(name="bn")(np.ones((3, 5, 4), np.float32), mask=np.ones((3, 4), bool))
