"""Models with several inputs and outputs: fit/evaluate/predict/*_on_batch with lists, dicts and generators;
per-output losses, loss weights and metrics, checked against hand-computed values (Keras 3 semantics)."""
import numpy as np
import pytest

import nnkit
from nnkit import Input, Model, layers, losses

N = 24
rng = np.random.default_rng(0)
IMAGE = rng.standard_normal((N, 6, 6, 1)).astype(np.float32)
META = rng.standard_normal((N, 3)).astype(np.float32)
LABEL = rng.integers(0, 3, N)
SCORE = rng.standard_normal((N, 1)).astype(np.float32)
X_DICT = {"image": IMAGE, "meta": META}
Y_DICT = {"label": LABEL, "score": SCORE}


def two_by_two(**compile_args):
    nnkit.layers.clear_session()
    nnkit.set_seed(0)
    image, meta = Input(shape=(6, 6, 1), name="image"), Input(shape=(3,), name="meta")
    h = layers.Flatten()(layers.Conv2D(2, 3, activation="relu")(image))
    h = layers.concatenate([h, layers.Dense(4, activation="relu")(meta)])
    model = Model([image, meta], [layers.Dense(3, name="label")(h), layers.Dense(1, name="score")(h)])
    defaults = dict(optimizer=nnkit.optimizers.SGD(0.05),
                    loss={"label": losses.SparseCategoricalCrossentropy(from_logits=True), "score": "mse"},
                    loss_weights={"label": 1.0, "score": 0.5},
                    metrics={"label": ["accuracy"], "score": ["mae"]})
    model.compile(**{**defaults, **compile_args})
    return model


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def hand_losses(model, idx=slice(None)):
    logits, score = (o.astype(np.float64) for o in model.predict([IMAGE[idx], META[idx]], verbose=0))
    ce = -log_softmax(logits)[np.arange(len(logits)), LABEL[idx]]
    se = ((score - SCORE[idx]) ** 2)[:, 0]
    return ce, se, logits, score


def test_losses_weights_and_log_names_match_hand_computation():
    model = two_by_two()
    logs = model.test_on_batch(X_DICT, Y_DICT, return_dict=True)
    ce, se, logits, score = hand_losses(model)
    assert list(logs) == ["loss", "label_loss", "score_loss", "label_accuracy", "score_mae"]
    assert logs["label_loss"] == pytest.approx(ce.mean(), rel=1e-5)
    assert logs["score_loss"] == pytest.approx(0.5 * se.mean(), rel=1e-5)  # Keras logs the weighted value
    assert logs["loss"] == pytest.approx(ce.mean() + 0.5 * se.mean(), rel=1e-5)
    assert logs["label_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == LABEL))
    assert logs["score_mae"] == pytest.approx(np.abs(score - SCORE).mean(), rel=1e-5)
    assert model.metrics_names == list(logs)


def test_lists_dicts_and_a_generator_train_identically():
    def run(x, y, **kw):
        model = two_by_two()
        history = model.fit(x, y, epochs=2, verbose=0, **kw)
        return model, history

    by_dict, h = run(X_DICT, Y_DICT, batch_size=8, shuffle=False)
    by_list, _ = run([IMAGE, META], [LABEL, SCORE], batch_size=8, shuffle=False)
    by_mixed, _ = run((IMAGE, META), {"score": SCORE, "label": LABEL}, batch_size=8, shuffle=False)

    def batches():
        for i in range(0, N, 8):
            yield {"meta": META[i:i + 8], "image": IMAGE[i:i + 8]}, [LABEL[i:i + 8], SCORE[i:i + 8]]
    by_gen, _ = run(batches, None)
    for other in (by_list, by_mixed, by_gen):
        for a, b in zip(by_dict.weights, other.weights):
            np.testing.assert_array_equal(a.data, b.data)
    assert set(h.history) == {"loss", "label_loss", "score_loss", "label_accuracy", "score_mae"}
    assert h.history["loss"][1] < h.history["loss"][0]


def test_validation_split_and_data_give_val_logs_per_output():
    model = two_by_two()
    h = model.fit(X_DICT, Y_DICT, epochs=1, batch_size=8, verbose=0, validation_split=0.25)
    assert "val_label_loss" in h.history and "val_score_mae" in h.history
    ce, se, _, _ = hand_losses(model, slice(18, None))
    assert h.history["val_label_loss"][0] == pytest.approx(ce.mean(), rel=1e-5)
    h = model.fit(X_DICT, Y_DICT, epochs=1, verbose=0, validation_data=([IMAGE, META], [LABEL, SCORE]))
    ce, se, _, _ = hand_losses(model)
    assert h.history["val_loss"][0] == pytest.approx(ce.mean() + 0.5 * se.mean(), rel=1e-5)


def test_predict_and_predict_on_batch_return_one_array_per_output():
    model = two_by_two()
    out = model.predict(X_DICT, batch_size=5, verbose=0)
    assert [o.shape for o in out] == [(N, 3), (N, 1)]
    np.testing.assert_allclose(model.predict_on_batch([IMAGE, META])[1], out[1], rtol=1e-6)


def test_one_loss_and_a_metric_list_apply_to_every_output():
    model = two_by_two(loss="mse", loss_weights=None, metrics=["mae"])
    y = [np.zeros((N, 3), np.float32), SCORE]
    logs = model.test_on_batch([IMAGE, META], y, return_dict=True)
    assert list(logs) == ["loss", "label_loss", "score_loss", "label_mae", "score_mae"]
    logits, score = model.predict([IMAGE, META], verbose=0)
    assert logs["label_loss"] == pytest.approx(np.mean(logits.astype(np.float64) ** 2), rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["label_loss"] + logs["score_loss"], rel=1e-6)


def test_list_of_metric_lists_and_loss_list():
    model = two_by_two(loss=[losses.SparseCategoricalCrossentropy(from_logits=True), "mae"],
                       loss_weights=[2.0, 1.0], metrics=[["accuracy"], ["mse", "mae"]])
    logs = model.evaluate(X_DICT, Y_DICT, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "label_loss", "score_loss", "label_accuracy", "score_mse", "score_mae"]
    ce, se, _, score = hand_losses(model)
    assert logs["label_loss"] == pytest.approx(2 * ce.mean(), rel=1e-5)
    assert logs["score_loss"] == pytest.approx(np.abs(score - SCORE).mean(), rel=1e-5)


def test_an_output_without_a_loss_is_not_trained_on_and_needs_no_targets():
    model = two_by_two(loss={"label": losses.SparseCategoricalCrossentropy(from_logits=True)}, loss_weights=None,
                       metrics=None)
    logs = model.train_on_batch(X_DICT, {"label": LABEL}, return_dict=True)
    assert list(logs) == ["loss", "label_loss"]


def test_wrong_structures_are_named():
    model = two_by_two()
    with pytest.raises(ValueError, match=r"the model has inputs \['image', 'meta'\]; got a dict with keys "
                                         r"\['img', 'meta'\]"):
        model.fit({"img": IMAGE, "meta": META}, Y_DICT, verbose=0)
    with pytest.raises(ValueError, match=r"the model has outputs \['label', 'score'\]; got y as a dict with keys "
                                         r"\['labels', 'score'\]"):
        model.fit(X_DICT, {"labels": LABEL, "score": SCORE}, verbose=0)
    with pytest.raises(ValueError, match=r"x\['image'\] has 24 samples .* but x\['meta'\] has 23"):
        model.fit({"image": IMAGE, "meta": META[:-1]}, Y_DICT, verbose=0)
    with pytest.raises(ValueError, match=r"the model has 2 output\(s\) \['label', 'score'\]; got loss as a list "
                                         r"of 3"):
        two_by_two(loss=["mse", "mse", "mse"], loss_weights=None)
    with pytest.raises(ValueError, match=r"the model has outputs \['label', 'score'\]; got loss_weights as a dict"):
        two_by_two(loss_weights={"labels": 1.0})
    with pytest.raises(ValueError, match=r"give y as a list or a dict by output name, got one array"):
        model.train_on_batch(X_DICT, LABEL)
    with pytest.raises(ValueError, match="class_weight is only supported for models with a single output"):
        model.fit(X_DICT, Y_DICT, class_weight={0: 1.0}, verbose=0)


def test_per_output_sample_weights():
    model = two_by_two(metrics=None)
    w = rng.random(N)
    logs = model.test_on_batch(X_DICT, Y_DICT, sample_weight={"label": w, "score": np.ones(N)}, return_dict=True)
    ce, se, _, _ = hand_losses(model)
    assert logs["label_loss"] == pytest.approx((w * ce).sum() / N, rel=1e-5)
    assert logs["score_loss"] == pytest.approx(0.5 * se.mean(), rel=1e-5)
    both = model.test_on_batch(X_DICT, Y_DICT, sample_weight=w, return_dict=True)  # one array: every output
    model.reset_metrics()
    both = model.test_on_batch(X_DICT, Y_DICT, sample_weight=w, return_dict=True)
    assert both["score_loss"] == pytest.approx(0.5 * (w * se).sum() / N, rel=1e-5)


def test_save_and_load_keeps_the_per_output_compile_settings(tmp_path):
    model = two_by_two()
    model.fit(X_DICT, Y_DICT, epochs=1, verbose=0)
    model.save(tmp_path / "m.nnk")
    again = nnkit.load_model(tmp_path / "m.nnk")
    a = model.evaluate(X_DICT, Y_DICT, verbose=0, return_dict=True)
    b = again.evaluate(X_DICT, Y_DICT, verbose=0, return_dict=True)
    assert list(a) == list(b)
    np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-6)
