"""Training plans compute what the eager step computes, bit for bit: every zoo model, dropout and batch norm,
sample and class weights, Adam and SGD with momentum; and they step aside where they must."""
import numpy as np
import pytest

import nnkit
from nnkit import Input, Model, Sequential, layers, losses, models, optimizers
from nnkit.recipes import small_vgg

rng = np.random.default_rng(5)

MODELS = {
    "lenet5": (lambda: models.lenet5(), (28, 28, 1), 10),
    "vgg-small (batch norm, dropout, softmax head)": (lambda: small_vgg(), (28, 28, 1), 10),
    "resnet20": (lambda: models.resnet20(input_shape=(16, 16, 3)), (16, 16, 3), 10),
    "mobilenet_v2": (lambda: models.mobilenet_v2(input_shape=(32, 32, 3), alpha=0.35, classes=5), (32, 32, 3), 5),
    "vgg16": (lambda: models.vgg16(input_shape=(32, 32, 3), classes=4), (32, 32, 3), 4),
    "resnet18": (lambda: models.resnet18(input_shape=(32, 32, 3), classes=3), (32, 32, 3), 3),
}


def train(make, x, y, optimizer, eager, monkeypatch, steps=2, **fit_args):
    nnkit.layers.clear_session()
    nnkit.set_seed(0)
    monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
    model = make()
    model.compile(optimizer(), losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    history = model.fit(x, y, epochs=steps, batch_size=len(x), shuffle=False, verbose=0, **fit_args)
    planned = [k for k, v in model.__dict__.get("_plans", {}).items() if k[0] == "train" and v is not None]
    return model, history, planned


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_zoo_model_trains_bitwise_as_eager(name, monkeypatch):
    make, shape, classes = MODELS[name]
    x = rng.random((3,) + shape).astype(np.float32)
    y = rng.integers(0, classes, 3)
    opts = [lambda: optimizers.SGD(0.05, momentum=0.9)] + ([lambda: optimizers.Adam()] if "vgg16" not in name else [])
    for optimizer in opts:
        eager, h_eager, _ = train(make, x, y, optimizer, True, monkeypatch)
        planned, h_plan, plans = train(make, x, y, optimizer, False, monkeypatch)
        assert plans, "the model trained eagerly"
        assert h_plan.history == h_eager.history
        for a, b in zip(eager.weights, planned.weights):  # batch-norm moving statistics included
            np.testing.assert_array_equal(a.data, b.data)


def test_sample_and_class_weights_and_mse_through_a_plan(monkeypatch):
    def make():
        return Sequential([Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dropout(0.3),
                           layers.Dense(3)])
    x, y, w = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16), rng.random(16)

    def run(eager):
        monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
        nnkit.layers.clear_session()
        nnkit.set_seed(0)
        model = make()
        model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                      weighted_metrics=["accuracy"])
        h = model.fit(x, y, sample_weight=w, class_weight={1: 2.0}, epochs=3, batch_size=5, verbose=0)
        return model, h
    (a, ha), (b, hb) = run(True), run(False)
    assert ha.history == hb.history
    for u, v in zip(a.weights, b.weights):
        np.testing.assert_array_equal(u.data, v.data)


def test_plans_step_aside_for_hooks_eager_mode_and_added_losses(monkeypatch):
    monkeypatch.setenv("NNKIT_EAGER", "0")
    model = Sequential([Input(shape=(4,)), layers.Dense(2, name="d")])
    model.compile("sgd", "mse")
    x, y = rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    seen = []
    with model.get_layer("d").register_forward_hook(lambda layer, i, o: seen.append(1)):
        model.train_on_batch(x, y)
    assert seen == [1, 1]  # the probe forward and the step: the step ran eagerly, so the hook fired
    model.train_on_batch(x, y)
    assert any(k[0] == "train" and v is not None for k, v in model._plans.items())
    model.compile("sgd", "mse", jit_compile=False)
    model._plans.clear()
    model.train_on_batch(x, y)
    assert model._plans == {}


def test_penalties_train_as_eager(monkeypatch):
    from nnkit import regularizers

    def make():
        return Sequential([Input(shape=(6,)), layers.Dense(8, activation="relu"),
                           layers.ActivityRegularization(l1=0.01, l2=0.02), layers.Dense(3),
                           layers.Dense(3, kernel_regularizer=regularizers.L2(0.1), activity_regularizer="l1")])
    x, y = rng.standard_normal((10, 6)).astype(np.float32), rng.integers(0, 3, 10)

    def run(eager, make):
        monkeypatch.setenv("NNKIT_EAGER", "1" if eager else "0")
        nnkit.layers.clear_session()
        nnkit.set_seed(0)
        model = make()
        model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
        return model, model.fit(x, y, epochs=3, batch_size=5, verbose=0)
    for build, planned in ((make, False), (lambda: Sequential(make().layers[:3] + [layers.Dense(3)]), True)):
        (a, ha), (b, hb) = run(True, build), run(False, build)
        plans = [v for k, v in b._plans.items() if k[0] == "train" and v is not None]
        assert bool(plans) == planned  # regularized weights train eagerly; an add_loss layer runs inside a plan
        if planned:  # plain SGD: the plan steps the dense layers inside its backward, within rounding
            np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-6)
            for u, v in zip(a.weights, b.weights):
                np.testing.assert_allclose(v.data, u.data, rtol=1e-5, atol=1e-7)
            continue
        assert ha.history == hb.history
        for u, v in zip(a.weights, b.weights):
            np.testing.assert_array_equal(u.data, v.data)
