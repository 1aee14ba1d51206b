"""Keras 3's training semantics, against hand-computed values: loss reductions with sample weights, class
weights, weighted versus unweighted metrics, running metrics in *_on_batch, the public steps."""
import numpy as np
import pytest

import nnkit
from nnkit import Input, Model, layers, losses, optimizers

N = 12
rng = np.random.default_rng(1)
X = rng.standard_normal((N, 4)).astype(np.float64)
Y = rng.standard_normal((N, 2)).astype(np.float64)
W = rng.random(N)
LABELS = rng.integers(0, 3, N)


def regression(loss=None, lr=0.1, **kw):
    nnkit.set_seed(0)
    x = Input(shape=(4,), dtype="float64")
    model = Model(x, layers.Dense(2, name="out")(x))
    model.compile(optimizers.SGD(lr), loss or losses.MeanSquaredError(), **kw)
    return model


def per_sample_se(model):
    return ((model.predict(X, verbose=0) - Y) ** 2).mean(axis=1)


@pytest.mark.parametrize("reduction, expected", [
    ("sum_over_batch_size", lambda l: (W * l).sum() / N),
    ("mean", lambda l: (W * l).sum() / N),
    ("mean_with_sample_weight", lambda l: (W * l).sum() / W.sum()),
    ("sum", lambda l: (W * l).sum()),
    ("none", lambda l: (W * l).mean()),  # per-sample losses: the training loop takes their mean
])
def test_sample_weighted_loss_under_every_reduction(reduction, expected):
    model = regression(losses.MeanSquaredError(reduction=reduction))
    value = model.test_on_batch(X, Y, sample_weight=W)
    assert value == pytest.approx(expected(per_sample_se(model)), rel=1e-12)


def test_a_training_step_follows_the_sample_weighted_gradient():
    """One SGD step moves the kernel by -lr * d/dW [sum(w l) / N], the Keras 3 default reduction."""
    model = regression(lr=0.1)
    kernel, bias = (w.data.copy() for w in model.trainable_weights)
    pred = X @ kernel + bias
    grad_pred = 2 * (pred - Y) / Y.shape[1] * W[:, None] / N
    model.train_on_batch(X, Y, sample_weight=W)
    np.testing.assert_allclose(model.trainable_weights[0].data, kernel - 0.1 * X.T @ grad_pred, rtol=1e-12)
    np.testing.assert_allclose(model.trainable_weights[1].data, bias - 0.1 * grad_pred.sum(0), rtol=1e-12)


def test_epoch_loss_is_exact_over_batches_with_sample_weights():
    model = regression()
    whole = model.evaluate(X, Y, sample_weight=W, batch_size=N, verbose=0)
    batched = model.evaluate(X, Y, sample_weight=W, batch_size=5, verbose=0)
    assert whole == pytest.approx((W * per_sample_se(model)).sum() / N, rel=1e-12)
    assert batched == pytest.approx(whole, rel=1e-12)


def classifier(**kw):
    nnkit.set_seed(0)
    x = Input(shape=(4,), dtype="float64")
    model = Model(x, layers.Dense(3, name="probs")(x))
    model.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True), **kw)
    return model


def test_class_weight_equals_the_matching_sample_weights():
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    a, b = classifier(), classifier()
    la = a.train_on_batch(X, LABELS, class_weight=class_weight)
    lb = b.train_on_batch(X, LABELS, sample_weight=np.array([class_weight[c] for c in LABELS]))
    assert la == lb
    for u, v in zip(a.weights, b.weights):
        np.testing.assert_array_equal(u.data, v.data)
    # in fit too, multiplied with given sample weights; a class not listed weighs 1
    c, d = classifier(), classifier()
    c.fit(X, LABELS, sample_weight=W, class_weight={1: 2.0}, epochs=1, batch_size=5, shuffle=False, verbose=0)
    d.fit(X, LABELS, sample_weight=W * np.where(LABELS == 1, 2.0, 1.0), epochs=1, batch_size=5, shuffle=False,
          verbose=0)
    for u, v in zip(c.weights, d.weights):
        np.testing.assert_array_equal(u.data, v.data)
    with pytest.raises(ValueError, match=r"class_weight keys must be class indices"):
        classifier().fit(X, LABELS, class_weight={"cat": 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"class_weight\[1\] must be a finite number >= 0"):
        classifier().fit(X, LABELS, class_weight={1: -1.0}, verbose=0)


def test_metrics_are_unweighted_and_weighted_metrics_weighted():
    model = regression(metrics=["mae"], weighted_metrics=["mae", "mse"])
    logs = model.test_on_batch(X, Y, sample_weight=W, return_dict=True)
    err = model.predict(X, verbose=0) - Y
    mae, mse = np.abs(err).mean(1), (err ** 2).mean(1)
    assert list(logs) == ["loss", "mae", "weighted_mae", "mse"]
    assert logs["mae"] == pytest.approx(mae.mean(), rel=1e-12)
    assert logs["weighted_mae"] == pytest.approx((W * mae).sum() / W.sum(), rel=1e-12)
    assert logs["mse"] == pytest.approx((W * mse).sum() / W.sum(), rel=1e-12)


def test_on_batch_metrics_run_on_until_reset_as_in_keras_3():
    model = regression(metrics=["mae"])
    first = model.test_on_batch(X[:6], Y[:6], return_dict=True)
    both = model.test_on_batch(X[6:], Y[6:], return_dict=True)
    model.reset_metrics()
    alone = model.test_on_batch(X[6:], Y[6:], return_dict=True)
    assert both["mae"] == pytest.approx((first["mae"] + alone["mae"]) / 2, rel=1e-12)


def test_metrics_list_the_loss_tracker_first():
    model = regression(metrics=["mae"])
    assert [m.name for m in model.metrics] == ["loss", "mae"]
    assert model.metrics_names == ["loss", "mae"]


def test_compile_accepts_keras_execution_arguments_and_positional_loss_weights():
    model = regression(jit_compile=False, run_eagerly=True, steps_per_execution=4, auto_scale_loss=False)
    assert model.steps_per_execution == 4 and model.run_eagerly
    with pytest.raises(ValueError, match="steps_per_execution must be a positive integer"):
        regression(steps_per_execution=0)
    with pytest.raises(ValueError, match="compile's third positional argument is loss_weights"):
        regression().compile("sgd", "mse", ["mae"])


def test_optimizer_takes_keras_pairs_nnkit_weights_and_apply():
    def fresh():
        model = regression(lr=0.5)
        model.zero_grad()
        loss = model.compute_loss(X, Y, model(X, training=True))
        loss.backward()
        return model, [w.grad.copy() for w in model.trainable_weights]

    results = []
    for form in ("pairs", "weights", "apply"):
        model, grads = fresh()
        ws = model.trainable_weights
        if form == "pairs":
            model.optimizer.apply_gradients(zip(grads, ws))
        elif form == "weights":
            model.optimizer.apply_gradients(ws)
        else:
            model.optimizer.apply([nnkit.Tensor(g) for g in grads], ws)
        results.append([w.data.copy() for w in ws])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    model, grads = fresh()
    before = [w.data.copy() for w in model.trainable_weights]
    model.optimizer.apply_gradients(zip([None, grads[1]], model.trainable_weights))  # None: left alone
    np.testing.assert_array_equal(model.trainable_weights[0].data, before[0])
    with pytest.raises(ValueError, match="2 gradients for 1 weights"):
        model.optimizer.apply(grads, model.trainable_weights[:1])


def test_leaky_relu_string_activation_is_keras_0_2():
    x = Input(shape=(3,))
    model = Model(x, layers.Activation("leaky_relu")(x))
    np.testing.assert_allclose(model.predict(np.array([[-1.0, 0.0, 2.0]], np.float32), verbose=0),
                               [[-0.2, 0.0, 2.0]], rtol=1e-6)
