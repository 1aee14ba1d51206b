"""Inference plans equal the eager path bit for bit, for every zoo model and the layers they plan."""
import numpy as np
import pytest

import nnkit
from nnkit import Input, Model, Sequential, layers, models

rng = np.random.default_rng(4)

ZOO = {
    "lenet5": lambda: models.lenet5(),
    "resnet20": lambda: models.resnet20(input_shape=(16, 16, 3)),
    "resnet18": lambda: models.resnet18(input_shape=(32, 32, 3), classes=7),
    "mobilenet_v2": lambda: models.mobilenet_v2(input_shape=(32, 32, 3), alpha=0.35, classes=5),
    "vgg16": lambda: models.vgg16(input_shape=(32, 32, 3), classes=4),
    "resnet50": lambda: models.resnet50(input_shape=(32, 32, 3), classes=3),
}


def eager(model, x):
    with nnkit.no_grad():
        out = model(x, training=False)
    return out.data if isinstance(out, nnkit.Tensor) else [o.data for o in out]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_model_plans_bitwise_equal_to_eager(name):
    model = ZOO[name]()
    for batch in (1, 3):
        x = rng.standard_normal((batch,) + tuple(model.input_shape[1:])).astype(np.float32)
        plan = model.compile_for_inference(batch)
        np.testing.assert_array_equal(plan(x), eager(model, x))
        assert plan.eager_layers == [], plan  # every layer of the zoo is planned
    np.testing.assert_array_equal(model.predict(x, verbose=0), eager(model, x))


def test_predict_uses_a_cached_plan_and_sees_weight_updates(monkeypatch):
    model = Sequential([Input(shape=(5,)), layers.Dense(4, activation="tanh"), layers.Dropout(0.5),
                        layers.Dense(2)])
    x = np.random.default_rng(0).standard_normal((1, 5)).astype(np.float32)
    first = model.predict_on_batch(x)
    assert len(model._plans) == 1
    model.layers[0].kernel.data[...] *= 2  # in-place updates (training, set_weights, load_weights) are seen
    np.testing.assert_array_equal(model.predict_on_batch(x), eager(model, x))
    assert not np.array_equal(first, model.predict_on_batch(x))
    monkeypatch.setenv("NNKIT_EAGER", "1")
    model._plans.clear()
    model.predict(x, verbose=0)
    assert model._plans == {}


def test_hooks_turn_plans_off_so_that_they_fire():
    model = Sequential([Input(shape=(5,)), layers.Dense(2, name="d")])
    seen = []
    with model.get_layer("d").register_forward_hook(lambda layer, i, o: seen.append(o.shape)):
        model.predict(rng.standard_normal((3, 5)).astype(np.float32), verbose=0)
    assert seen == [(3, 2)]


def test_multi_input_output_plan_and_unplanned_layers_run_eagerly():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    h = layers.Add()([layers.Dense(3)(a), layers.Dense(3)(b)])
    model = Model([a, b], [layers.Softmax()(h), layers.Dense(1, activation="tanh")(h),
                           layers.ELU(name="elu")(h)])
    plan = model.compile_for_inference(2)
    xa, xb = (rng.standard_normal((2, 4)).astype(np.float32) for _ in range(2))
    for got, want in zip(plan(xa, xb), eager(model, [xa, xb])):
        np.testing.assert_array_equal(got, want)
    assert plan.eager_layers == ["elu"]  # a layer without a planner runs its own call inside the plan


def test_bad_plan_input_and_unplannable_models():
    model = Sequential([Input(shape=(5,)), layers.Dense(2)])
    plan = model.compile_for_inference(2)
    with pytest.raises(ValueError, match=r"input 0 must have shape \(2, 5\), got \(3, 5\)"):
        plan(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.compile_for_inference(0)

    class Sub(Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, x):
            return self.d(x)
    with pytest.raises(TypeError, match="subclassed model has no static graph"):
        Sub().compile_for_inference()


def lenet(dtype="float32", last_activation=None):
    return Sequential([Input(shape=(28, 28, 1), dtype=dtype),
                       layers.Conv2D(6, 5, padding="same", activation="relu"), layers.MaxPooling2D(2),
                       layers.Conv2D(16, 5, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                       layers.Dropout(0.5), layers.Dense(120, activation="relu"), layers.Dense(84, activation="relu"),
                       layers.Dense(10, activation=last_activation)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_lenet_runs_as_one_chain_bitwise_equal_to_eager(dtype):
    model = lenet(dtype)
    for batch in (1, 2):
        plan = model.compile_for_inference(batch)
        assert plan.chained == len(plan.steps), plan  # every layer in the one call
        x = rng.standard_normal((batch, 28, 28, 1)).astype(dtype)
        first = plan(x)
        np.testing.assert_array_equal(first, eager(model, x))
        assert plan(x) is not first  # a fresh array each call
    np.testing.assert_array_equal(model.predict_on_batch(x), eager(model, x))


def test_a_chain_sees_weight_updates_and_falls_back_when_arrays_are_replaced():
    model = lenet(last_activation="softmax")
    plan = model.compile_for_inference(1)
    assert plan.chained == len(plan.steps) - 1  # the softmax layer runs as the plan's step after the chain
    x = rng.standard_normal((1, 28, 28, 1)).astype(np.float32)
    before = plan(x)
    model.layers[0].kernel.data[...] *= 2  # in place (training, set_weights): the chain reads it
    np.testing.assert_array_equal(plan(x), eager(model, x))
    assert not np.array_equal(before, plan(x))
    dense = model.layers[-2]
    dense.kernel.data = dense.kernel.data * 0.5  # a new array: the chain steps aside, the plan's steps run
    np.testing.assert_array_equal(plan(x), eager(model, x))
    for other in (nnkit.Tensor(x), x.astype(np.float64), np.asfortranarray(x)):  # not for the chain: the steps
        np.testing.assert_array_equal(plan(other), eager(model, x))
    with pytest.raises(ValueError, match=r"input 0 must have shape \(1, 28, 28, 1\), got \(2, 28, 28, 1\)"):
        plan(np.zeros((2, 28, 28, 1), np.float32))


def test_a_chain_stops_where_a_later_layer_reads_a_value_inside_it():
    inputs = Input(shape=(6,))
    a = layers.Dense(5, activation="relu")(inputs)
    b = layers.Dense(5)(a)
    c = layers.Dense(5, activation="relu")(layers.Add()([a, b]))
    model = Model(inputs, layers.Dense(3)(c))
    plan = model.compile_for_inference(1)
    assert plan.chained == 1  # `a` is read by the Add: the chain ends with it
    x = rng.standard_normal((1, 6)).astype(np.float32)
    np.testing.assert_array_equal(plan(x), eager(model, x))
