"""The public training step and what tools plug into: custom train_step, Dataset, forward hooks, replacement
backward rules, the layer graph walk."""
import numpy as np
import pytest

import nnkit
from nnkit import Input, Model, Sequential, callbacks, layers, losses, ops

rng = np.random.default_rng(2)
X = rng.standard_normal((20, 4)).astype(np.float32)
Y = rng.standard_normal((20, 2)).astype(np.float32)


class CountingModel(Model):
    """Keras's custom-train_step guide, in nnkit: loss from compute_loss, backward, apply, metrics."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
        self.steps += 1
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def counting_model():
    x = Input(shape=(4,))
    model = CountingModel(x, layers.Dense(2, name="out")(x))
    model.compile(nnkit.optimizers.SGD(0.1), "mse", metrics=["mae"])
    return model


def test_a_subclass_overriding_train_step_keeps_the_graph_and_fit_runs_it(tmp_path):
    model = counting_model()
    assert isinstance(model, CountingModel) and model.output_names == ["out"] and len(model.layers) == 2
    reference = Model.from_config(model.get_config())
    reference.set_weights(model.get_weights())
    reference.compile(nnkit.optimizers.SGD(0.1), "mse", metrics=["mae"])
    ends = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(dict(logs)))
    h = model.fit(X, Y, epochs=2, batch_size=5, shuffle=False, verbose=0, callbacks=[cb])
    href = reference.fit(X, Y, epochs=2, batch_size=5, shuffle=False, verbose=0)
    assert model.steps == 8 and [list(e) for e in ends] == [["loss", "mae"]] * 2
    np.testing.assert_allclose(h.history["loss"], href.history["loss"], rtol=1e-6)  # metrics reset per epoch
    for a, b in zip(model.weights, reference.weights):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6, atol=1e-7)  # the plan steps plain SGD: rounding


def test_custom_step_model_without_a_compiled_loss():
    class OwnLoss(Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            loss = ops.mean(ops.abs(self(x, training=True) - y))
            loss.backward()
            self.optimizer.apply_gradients(zip([w.grad for w in self.trainable_weights], self.trainable_weights))
            return {"loss": float(loss.data)}

    x = Input(shape=(4,))
    model = OwnLoss(x, layers.Dense(2)(x))
    model.compile("adam")
    h = model.fit(X, Y, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 3 and h.history["loss"][-1] < h.history["loss"][0]


def test_dataset_batches_and_on_epoch_end_count():
    class Batches(nnkit.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.begins, self.ends = 0, 0

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return X[5 * i:5 * i + 5], Y[5 * i:5 * i + 5]

        def on_epoch_begin(self):
            self.begins += 1

        def on_epoch_end(self):
            self.ends += 1

    data = Batches()
    x = Input(shape=(4,))
    model = Model(x, layers.Dense(2)(x))
    model.compile("sgd", "mse")
    h = model.fit(data, epochs=3, verbose=0)
    assert (data.begins, data.ends) == (3, 3) and len(h.history["loss"]) == 3
    assert model.evaluate(data, verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0), rel=1e-6)
    with pytest.raises(ValueError, match="batch_size does not apply"):
        model.fit(data, batch_size=4, verbose=0)


def small_net():
    inner = Sequential([Input(shape=(4,)), layers.Dense(5, name="hidden"), layers.ReLU(name="relu")], name="inner")
    x = Input(shape=(4,), name="x")
    h = inner(x)
    y = layers.Dense(2, name="head")(layers.add([h, layers.Dense(5, name="skip")(x)]))
    return Model(x, y, name="outer")


def test_forward_hooks_fire_once_per_call_in_topological_order():
    model = small_net()
    order = []
    handles = [layer.register_forward_hook(lambda layer, i, o: order.append(layer.name))
               for layer in model._walk()[1:] if not layer._children()]
    model(X)
    assert order == ["hidden", "relu", "skip", "add", "head"]
    order.clear()
    model.predict(X, batch_size=20, verbose=0)
    assert order == ["hidden", "relu", "skip", "add", "head"]
    for h in handles:
        h.remove()
    model(X)
    assert order == ["hidden", "relu", "skip", "add", "head"]


def test_hooks_can_replace_inputs_and_outputs():
    model = small_net()
    head = model.get_layer("head")
    with head.register_forward_hook(lambda layer, i, o: o * 0.0):
        assert np.all(model(X).data == 0)
    with model.get_layer("skip").register_forward_pre_hook(lambda layer, i: i * 0.0):
        out = model(X).data
    skipless = model.get_layer("head")(model.get_layer("inner")(X)).data
    np.testing.assert_allclose(out, skipless, rtol=1e-6)
    assert not np.all(model(X).data == 0)  # removed by the with blocks


def test_a_replaced_relu_backward_changes_the_gradient_and_leaves_the_model_untouched():
    model = small_net()
    weights = [w.data.copy() for w in model.weights]
    x = nnkit.Tensor(X.astype(np.float32), requires_grad=True)

    def grad_of_input():
        x.grad = None
        model(x).sum().backward()
        return x.grad.copy()

    plain = grad_of_input()
    with nnkit.backward_rules({ops.Relu: lambda ctx, g: (g,)}):  # pass the gradient straight through
        through = grad_of_input()
    again = grad_of_input()
    hidden, skip, head = (model.get_layer("inner").get_layer("hidden"), model.get_layer("skip"),
                          model.get_layer("head"))
    k = head.kernel.data.sum(axis=1)
    expected = hidden.kernel.data @ k + skip.kernel.data @ k  # d/dx sum(head(hidden(x) + skip(x))), ReLU ignored
    np.testing.assert_allclose(through, np.broadcast_to(expected, X.shape), rtol=1e-5)
    assert not np.allclose(plain, through)
    np.testing.assert_array_equal(plain, again)
    for a, w in zip(weights, model.weights):
        np.testing.assert_array_equal(a, w.data)
    with pytest.raises(TypeError, match="backward_rules: expected"):
        nnkit.backward_rules({"relu": lambda ctx, g: (g,)})


def test_layer_graph_opens_nested_models_and_links_inbound_calls():
    model = small_net()
    calls = nnkit.models.layer_graph(model)
    assert [c.layer.name for c in calls] == ["hidden", "relu", "skip", "add", "head"]
    by_name = {c.layer.name: c for c in calls}
    assert by_name["hidden"].inbound_layers == [None] and by_name["skip"].inbound_layers == [None]
    assert [layer.name for layer in by_name["add"].inbound_layers] == ["relu", "skip"]
    assert by_name["hidden"].input_keys == [id(model.inputs[0])]  # the nested model's input is the outer one
    assert by_name["head"].outputs[0] is model.outputs[0]
    flat = nnkit.models.layer_graph(model, expand_nested=False)
    assert [c.layer.name for c in flat] == ["inner", "skip", "add", "head"]


def test_a_nested_model_called_twice_runs_its_layers_twice_on_separate_values():
    branch = Sequential([Input(shape=(4,)), layers.Dense(3, name="shared")], name="branch")
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    model = Model([a, b], layers.subtract([branch(a), branch(b)]))
    calls = nnkit.models.layer_graph(model)
    assert [c.layer.name for c in calls] == ["shared", "shared", "subtract"]
    assert calls[0].input_keys != calls[1].input_keys and calls[0].output_keys != calls[1].output_keys
    assert calls[2].inbound == [calls[0], calls[1]]
    xa, xb = X, X[::-1].copy()
    with nnkit.no_grad():
        want = model([xa, xb]).data
    np.testing.assert_array_equal(model.compile_for_inference(len(X))(xa, xb), want)


def test_record_calls_works_for_subclassed_models_too():
    class Sub(Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.a, self.b = layers.Dense(3, name="a"), layers.Dense(2, name="b")

        def call(self, x, training=None):
            return self.b(ops.relu(self.a(x)))

    model = Sub()
    seen = nnkit.models.record_calls(model, X)
    assert [layer.name for layer, _, _ in seen] == ["a", "b"]
    np.testing.assert_allclose(seen[1][2].data, model(X).data, rtol=1e-6)
    with pytest.raises(TypeError, match="subclassed model"):
        nnkit.models.layer_graph(model)
