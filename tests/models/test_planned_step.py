"""A training plan that owns the step: the cross-entropy losses on arrays (the same bits as the Tensor path),
plain SGD stepped inside the backward (a dense kernel by one GEMM into the weight: a stated tolerance), and
every case that must keep the old path."""
import warnings

import numpy as np
import pytest

import nnkit
from nnkit import Input, Model, Sequential, callbacks, layers, losses, optimizers, schedules
from nnkit.training.trainer import Trainer

rng = np.random.default_rng(11)
X = rng.standard_normal((24, 8)).astype(np.float32)
LABELS = rng.integers(0, 4, 24)
ONE_HOT = np.eye(4, dtype=np.float32)[LABELS]


def mlp(head=None, dtype="float32"):
    return Sequential([Input(shape=(8,), dtype=dtype), layers.Dense(16, activation="relu"), layers.Dropout(0.2),
                       layers.Dense(12, activation="tanh"), layers.Dense(4, activation=head)])


def fit(monkeypatch, eager, make, loss, y, optimizer=lambda: optimizers.Adam(), epochs=3, **fit_args):
    """A model trained eagerly or through its plan, its History, and how often ``compute_loss`` ran."""
    monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
    nnkit.layers.clear_session()
    nnkit.set_seed(0)
    model = make()
    model.compile(optimizer(), loss, metrics=["accuracy"])
    calls = []
    real = Trainer.compute_loss
    monkeypatch.setattr(Trainer, "compute_loss", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    x = X.astype(model.inputs[0].dtype)  # a float64 model takes float64 data (else it trains eagerly)
    # batches of 6: the mean's 1/6 is not exact in binary (1/8 would hide a different rounding)
    history = model.fit(x, y, epochs=epochs, batch_size=6, shuffle=False, verbose=0, **fit_args)
    monkeypatch.setattr(Trainer, "compute_loss", real)
    return model, history, len(calls)


def assert_same_bits(a, b):
    for u, v in zip(a.weights, b.weights):
        np.testing.assert_array_equal(u.data, v.data)


KNOWN = {
    "sparse, logits": (lambda: mlp(), losses.SparseCategoricalCrossentropy(from_logits=True), LABELS),
    "sparse, softmax head": (lambda: mlp("softmax"), losses.SparseCategoricalCrossentropy(), LABELS),
    "sparse, labels (n, 1)": (lambda: mlp(), losses.SparseCategoricalCrossentropy(from_logits=True),
                              LABELS[:, None]),
    "categorical, logits, smoothing": (lambda: mlp(), losses.CategoricalCrossentropy(from_logits=True,
                                                                                     label_smoothing=0.1), ONE_HOT),
    "categorical, softmax head, by name": (lambda: mlp("softmax"), "categorical_crossentropy", ONE_HOT),
    "float64": (lambda: mlp(dtype="float64"), losses.SparseCategoricalCrossentropy(from_logits=True), LABELS),
    "mse": (lambda: mlp(), "mse", ONE_HOT),
    "mse, one output, targets (n,)": (lambda: Sequential([Input(shape=(8,)), layers.Dense(5, activation="relu"),
                                                          layers.Dense(1)]), losses.MeanSquaredError(), X[:, 0]),
}


@pytest.mark.parametrize("case", sorted(KNOWN))
def test_known_losses_on_arrays_give_the_eager_bits(case, monkeypatch):
    make, loss, y = KNOWN[case]
    eager, h_eager, _ = fit(monkeypatch, True, make, loss, y)
    planned, h_plan, loss_calls = fit(monkeypatch, False, make, loss, y)
    assert loss_calls == 0  # every step's loss came from the plan (evaluation-free fit)
    assert h_plan.history == h_eager.history  # loss and accuracy logs, bit for bit
    assert_same_bits(eager, planned)


@pytest.mark.parametrize("case, make, loss, fit_args", [
    ("sample weights", lambda: mlp(), losses.SparseCategoricalCrossentropy(from_logits=True),
     {"sample_weight": rng.random(24)}),
    ("class weights", lambda: mlp(), losses.SparseCategoricalCrossentropy(from_logits=True),
     {"class_weight": {0: 2.0, 1: 0.5, 2: 1.0, 3: 1.0}}),
    ("ignore_class", lambda: mlp(), losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2), {}),
    ("sum reduction", lambda: mlp(), losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"), {}),
    ("probabilities without a softmax", lambda: mlp("sigmoid"), losses.SparseCategoricalCrossentropy(), {}),
    ("logits loss on a softmax head", lambda: mlp("softmax"),
     losses.SparseCategoricalCrossentropy(from_logits=True), {}),
    ("an added loss", lambda: Sequential([Input(shape=(8,)), layers.Dense(6), layers.ActivityRegularization(l2=0.1),
                                          layers.Dense(4)]),
     losses.SparseCategoricalCrossentropy(from_logits=True), {}),
    ("mse on a softmax head", lambda: mlp("softmax"), "mse", {}),
])
def test_other_losses_and_weights_keep_compute_loss_and_the_eager_bits(case, make, loss, fit_args, monkeypatch):
    y = ONE_HOT if loss == "mse" else LABELS
    eager, h_eager, _ = fit(monkeypatch, True, make, loss, y, **fit_args)
    planned, h_plan, loss_calls = fit(monkeypatch, False, make, loss, y, **fit_args)
    assert loss_calls == 12  # 3 epochs of 4 batches, every one through compute_loss
    assert planned.__dict__.get("_plans"), "the model did not even try a plan"
    assert h_plan.history == h_eager.history
    assert_same_bits(eager, planned)


def test_a_custom_compute_loss_runs_every_step(monkeypatch):
    class Custom(Sequential):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            seen.append(1)
            return super().compute_loss(x, y, y_pred, sample_weight, training)
    seen = []
    monkeypatch.setenv("NNKIT_EAGER", "0")
    model = Custom([Input(shape=(8,)), layers.Dense(4)])
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, LABELS, epochs=1, batch_size=8, verbose=0)
    assert len(seen) == 3


@pytest.mark.parametrize("optimizer", [lambda: optimizers.Adam(0.1), lambda: optimizers.SGD(0.1)])
def test_a_penalty_a_custom_compute_loss_puts_on_a_weight_reaches_it(optimizer, monkeypatch):
    """The loss's own gradient for a weight adds to the plan's (its summation order may differ: rounding)."""
    class Penalized(Sequential):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            kernel = self.layers[0].kernel
            return super().compute_loss(x, y, y_pred, sample_weight, training) + 10.0 * nnkit.ops.sum(kernel * kernel)

    def run(eager):
        monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
        nnkit.layers.clear_session()
        nnkit.set_seed(0)
        model = Penalized([Input(shape=(8,)), layers.Dense(3), layers.Dense(2)])
        model.compile(optimizer(), "mse")
        history = model.fit(X, ONE_HOT[:, :2], epochs=3, batch_size=8, verbose=0)
        return model, history
    (eager, h_eager), (planned, h_plan) = run(True), run(False)
    assert any(v is not None for v in planned._plans.values())
    np.testing.assert_allclose(h_plan.history["loss"], h_eager.history["loss"], rtol=1e-5)
    for a, b in zip(eager.weights, planned.weights):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-5, atol=1e-6)


def test_targets_that_do_not_fit_raise_the_eager_error(monkeypatch):
    for loss, y in (("mse", ONE_HOT[:, :3]), ("categorical_crossentropy", ONE_HOT[:, :3])):
        errors = []
        for eager in (True, False):
            monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
            model = mlp()
            model.compile("sgd", loss)
            model.train_on_batch(X, ONE_HOT)
            batch = iter([(X[:8], y[:8])])  # a generator's batches are checked as they arrive: by the loss
            with pytest.raises(ValueError) as error:
                model.fit(lambda: batch, epochs=1, verbose=0)
            errors.append(str(error.value))
        assert errors[0] == errors[1]


def test_bad_labels_raise_the_loss_error_through_the_plan(monkeypatch):
    monkeypatch.setenv("NNKIT_EAGER", "0")
    model = mlp()
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(X, LABELS)
    assert any(k[0] == "train" and v is not None for k, v in model._plans.items())
    batch = iter([(X[:8], LABELS[:8] + 4)])  # a generator's batches are checked as they arrive: by the loss
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy: labels must be in \[0, 4\)"):
        model.fit(lambda: batch, epochs=1, verbose=0)


# -- plain SGD inside the backward ----------------------------------------------------------------------------
def fused_steps(monkeypatch, run):
    """How many dense backward passes of a planned ``run(eager=False)`` took the SGD step inside."""
    calls = []
    real = nnkit.functional.Linear.backward_sgd
    monkeypatch.setattr(nnkit.functional.Linear, "backward_sgd", lambda fn, g, lr: calls.append(1) or real(fn, g, lr))
    run(False)
    monkeypatch.setattr(nnkit.functional.Linear, "backward_sgd", real)
    return len(calls)


def sgd_mlp(dtype="float32"):
    return Sequential([Input(shape=(8,), dtype=dtype), layers.Dense(16, activation="relu"),
                       layers.Dense(12, activation="tanh"), layers.BatchNormalization(),
                       layers.Dense(4, use_bias=False)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_plain_sgd_in_the_backward_matches_the_eager_step_within_rounding(dtype, monkeypatch):
    """One step: a dense layer stepped by ``w += x^T (-lr g)`` and ``b += 1^T (-lr g)`` differs from
    ``w - lr (x^T g)`` by at most one rounding of the weight and a few float32 epsilons of the step; the
    batch-norm weights, stepped by the optimizer's own kernel, are the same bits."""
    def one_step(eager):
        monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
        nnkit.layers.clear_session()
        nnkit.set_seed(0)
        model = sgd_mlp(dtype)
        model.compile(optimizers.SGD(0.3), losses.SparseCategoricalCrossentropy(from_logits=True))
        before = [w.data.copy() for w in model.weights]
        model.train_on_batch(X.astype(dtype), LABELS)
        return model, before
    (eager, before), (planned, _) = one_step(True), one_step(False)
    assert fused_steps(monkeypatch, one_step) == 3  # the three dense layers
    assert planned.optimizer.iterations == eager.optimizer.iterations == 1
    dense = {id(w) for layer in planned.layers if isinstance(layer, layers.Dense) for w in layer.weights}
    for w0, a, b in zip(before, eager.weights, planned.weights):
        if id(b) not in dense:
            np.testing.assert_array_equal(a.data, b.data)
            continue
        step = np.abs(a.data - w0).max()
        assert step > 0
        np.testing.assert_allclose(b.data, a.data, rtol=0, atol=np.spacing(np.abs(w0).max()) + 1e-5 * step)


def test_plain_sgd_training_follows_the_eager_run(monkeypatch):
    """Many steps, with a learning-rate schedule and a callback changing the rate: the same iteration count and
    rates, the logs within float32 rounding."""
    def run(eager):
        monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
        nnkit.layers.clear_session()
        nnkit.set_seed(0)
        model = sgd_mlp()
        model.compile(optimizers.SGD(schedules.ExponentialDecay(0.3, decay_steps=2, decay_rate=0.5)),
                      losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(X, LABELS, epochs=3, batch_size=8, verbose=0)
        model.compile(optimizers.SGD(1.0), losses.SparseCategoricalCrossentropy(from_logits=True))
        rates = callbacks.LearningRateScheduler(lambda epoch, lr: 0.2 / (epoch + 1))
        history = model.fit(X, LABELS, epochs=3, batch_size=8, verbose=0, callbacks=[rates])
        return model, history
    (eager, h_eager), (planned, h_plan) = run(True), run(False)
    assert planned.__dict__.get("_plans")
    assert planned.optimizer.iterations == eager.optimizer.iterations == 9
    assert h_plan.history["learning_rate"] == h_eager.history["learning_rate"]
    np.testing.assert_allclose(h_plan.history["loss"], h_eager.history["loss"], rtol=1e-5)
    for a, b in zip(eager.weights, planned.weights):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-4, atol=1e-5)


def test_plain_sgd_trains_a_conv_net_with_a_softmax_head_as_eager(monkeypatch):
    """LeNet-5 (convolutions stepped by the optimizer's kernel, dense layers inside the GEMMs, the loss read
    from the softmax head's logits on arrays)."""
    images = rng.random((6, 28, 28, 1)).astype(np.float32)

    def run(eager):
        monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
        nnkit.layers.clear_session()
        nnkit.set_seed(0)
        model = nnkit.models.lenet5()
        model.compile(optimizers.SGD(0.05), losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
        return model, model.fit(images, LABELS[:6], epochs=3, batch_size=3, shuffle=False, verbose=0)
    (eager, h_eager), (planned, h_plan) = run(True), run(False)
    assert fused_steps(monkeypatch, run) == 3 * 6  # its three dense layers, six steps
    np.testing.assert_allclose(h_plan.history["loss"], h_eager.history["loss"], rtol=1e-5)
    for a, b in zip(eager.weights, planned.weights):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("setup", ["momentum", "weight decay", "clipnorm", "ema", "constraint", "shared layer",
                                   "wrapped apply_gradients"])
def test_sgd_with_anything_more_takes_the_optimizer_path_and_the_eager_bits(setup, monkeypatch):
    def make():
        if setup == "shared layer":
            x = Input(shape=(8,))
            square = layers.Dense(8, activation="relu")
            return Model(x, layers.Dense(4)(square(square(x))))
        kernel_constraint = nnkit.constraints.NonNeg() if setup == "constraint" else None
        return Sequential([Input(shape=(8,)), layers.Dense(16, activation="relu", kernel_constraint=kernel_constraint),
                           layers.Dense(4)])

    def optimizer():
        kwargs = {"momentum": {"momentum": 0.9}, "weight decay": {"weight_decay": 0.01},
                  "clipnorm": {"clipnorm": 0.1}, "ema": {"use_ema": True}}.get(setup, {})
        opt = optimizers.SGD(0.1, **kwargs)
        if setup == "wrapped apply_gradients":  # a spy on the one gradient entry point sees every step
            real = opt.apply_gradients
            opt.apply_gradients = lambda pairs: seen.append(1) or real(pairs)
        return opt
    seen = []
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    eager, h_eager, _ = fit(monkeypatch, True, make, loss, LABELS, optimizer=optimizer)
    planned, h_plan, _ = fit(monkeypatch, False, make, loss, LABELS, optimizer=optimizer)
    assert any(v is not None for v in planned._plans.values())
    assert h_plan.history == h_eager.history
    assert_same_bits(eager, planned)
    assert fused_steps(monkeypatch, lambda eager: fit(monkeypatch, eager, make, loss, LABELS, optimizer=optimizer)) == 0
    if setup == "wrapped apply_gradients":
        assert len(seen) == 36  # 12 steps in each of the three runs


def test_a_nonfinite_loss_keeps_its_diagnosis_and_terminate_on_nan_keeps_the_weights(monkeypatch):
    def run(eager):
        monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
        nnkit.layers.clear_session()
        nnkit.set_seed(0)
        model = sgd_mlp()
        model.compile(optimizers.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(X, LABELS)
        model.layers[-1].kernel.data[0, 0] = np.nan
        before = [w.data.copy() for w in model.trainable_weights]
        stop = callbacks.TerminateOnNaN()
        with np.errstate(all="ignore"):
            history = model.fit(X, LABELS, epochs=2, batch_size=8, verbose=0, callbacks=[stop])
        assert len(history.epoch) == 1 and model.optimizer.iterations == 1  # the bad update was not applied
        for a, w in zip(before, model.trainable_weights):
            np.testing.assert_array_equal(a, w.data)
        with warnings.catch_warnings(record=True) as record, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            model.fit(X, LABELS, epochs=1, batch_size=8, verbose=0)  # no TerminateOnNaN: warned, stepped anyway
        assert sum("TerminateOnNaN" in str(w.message) for w in record) == 1
        assert model.optimizer.iterations == 4
        return model, stop.report, model.diagnose_nonfinite()
    (eager, report_eager, diagnosis_eager), (planned, report_plan, diagnosis_plan) = run(True), run(False)
    assert any(v is not None for v in planned._plans.values())
    assert report_plan == report_eager and "First non-finite output" in report_plan
    assert diagnosis_plan == diagnosis_eager
    for a, b in zip(eager.weights, planned.weights):  # NaN where NaN
        np.testing.assert_allclose(b.data, a.data, rtol=1e-5, atol=1e-6)


def test_a_layer_unfrozen_after_its_first_plan_trains(monkeypatch):
    def run(eager):
        monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
        nnkit.layers.clear_session()
        nnkit.set_seed(0)
        model = Sequential([Input(shape=(8,)), layers.Dense(6, name="first"), layers.Dense(4)])
        model.get_layer("first").trainable = False
        model.compile(optimizers.Adam(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(X, LABELS)
        model.get_layer("first").trainable = True
        model.compile(optimizers.Adam(0.1), losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(X, LABELS)
        return model
    eager, planned = run(True), run(False)
    assert_same_bits(eager, planned)


def test_backward_rules_step_the_plan_aside(monkeypatch):
    monkeypatch.setenv("NNKIT_EAGER", "0")
    model = mlp()
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    with nnkit.backward_rules({nnkit.ops.Tanh: lambda ctx, g: (g,)}):
        assert model._training_plan(X) is None
    assert model._training_plan(X) is not None
