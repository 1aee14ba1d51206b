"""The small things Keras users reach for first: utils, JSON, cloning, LambdaCallback, BackupAndRestore."""
import os
import warnings

import numpy as np
import pytest

import nnkit
from nnkit import Input, Model, Sequential, callbacks, layers, losses

rng = np.random.default_rng(3)
X = rng.standard_normal((32, 4)).astype(np.float32)
LABELS = rng.integers(0, 3, 32)


def test_to_categorical_is_keras():
    np.testing.assert_array_equal(nnkit.utils.to_categorical([0, 2, 1]), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    out = nnkit.utils.to_categorical(np.array([[1], [0]]), num_classes=4)
    assert out.shape == (2, 4) and out.dtype == np.float64 and out[0, 1] == 1
    assert nnkit.utils.to_categorical(np.zeros((2, 3), int), 2).shape == (2, 3, 2)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\), got a 2"):
        nnkit.utils.to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="must be integers"):
        nnkit.utils.to_categorical([0.5])
    with pytest.raises(ValueError, match=">= 0"):
        nnkit.utils.to_categorical([-1, 1])


def test_set_random_seed_and_unpack():
    nnkit.utils.set_random_seed(7)
    a = nnkit.random.get_rng().random()
    nnkit.set_seed(7)
    assert a == nnkit.random.get_rng().random()
    assert nnkit.utils.unpack_x_y_sample_weight((1, 2)) == (1, 2, None)
    assert nnkit.utils.unpack_x_y_sample_weight(X)[1:] == (None, None)


def test_functional_merge_helpers():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    model = Model([a, b], [layers.add([a, b]), layers.subtract([a, b]), layers.multiply([a, b]),
                           layers.average([a, b]), layers.maximum([a, b]), layers.minimum([a, b]),
                           layers.concatenate([a, b])])
    u, v = X[:, :3], X[:, 1:]
    out = model.predict([u, v], verbose=0)
    for got, want in zip(out, [u + v, u - v, u * v, (u + v) / 2, np.maximum(u, v), np.minimum(u, v),
                               np.concatenate([u, v], axis=-1)]):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_to_json_model_from_json_and_clone_model():
    model = Sequential([Input(shape=(4,)), layers.Dense(8, activation="relu", name="h"), layers.Dense(3)])
    again = nnkit.models.model_from_json(model.to_json())
    assert again.count_params() == model.count_params() and again.layers[0].name == "h"
    clone = nnkit.models.clone_model(model)
    assert clone.built and clone.count_params() == model.count_params()
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])  # fresh weights, as Keras
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(X, verbose=0), model.predict(X, verbose=0))
    with pytest.raises(ValueError, match="model_from_json: not a JSON model description"):
        nnkit.models.model_from_json("{not json")
    assert nnkit.models.load_model is nnkit.load_model


def test_saving_under_a_keras_name_warns(tmp_path):
    model = Sequential([Input(shape=(4,)), layers.Dense(2)])
    with pytest.warns(UserWarning, match="nnkit writes its own format"):
        model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(nnkit.load_model(tmp_path / "m.keras").predict(X, verbose=0),
                                  model.predict(X, verbose=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(tmp_path / "m.nnk")


def test_lambda_callback_calls_each_hook_with_its_arguments():
    seen = []
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                                  on_epoch_end=lambda epoch, logs: seen.append((epoch, sorted(logs))),
                                  on_batch_end=lambda batch, logs: seen.append(batch))
    model = Sequential([Input(shape=(4,)), layers.Dense(3)])
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(X, LABELS, epochs=1, batch_size=16, verbose=0, callbacks=[cb])
    assert seen == ["begin", 0, 1, (0, ["accuracy", "loss"])]
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_finish'"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_backup_and_restore_resumes_an_interrupted_fit_exactly(tmp_path):
    def make():
        nnkit.layers.clear_session()  # a new process would name the layers the same way
        nnkit.set_seed(0)
        model = Sequential([Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(3)])
        model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model

    straight = make()
    h_straight = straight.fit(X, LABELS, epochs=4, batch_size=8, verbose=0)

    class Crash(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model._epochs_completed == 2 and batch == 1:
                raise KeyboardInterrupt

    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        make().fit(X, LABELS, epochs=4, batch_size=8, verbose=0,
                   callbacks=[callbacks.BackupAndRestore(backup, save_freq=3), Crash()])
    assert os.listdir(backup) == ["backup.nnk"]
    resumed = make()
    restore = callbacks.BackupAndRestore(backup, save_freq=3)
    h = resumed.fit(X, LABELS, epochs=4, batch_size=8, verbose=0, callbacks=[restore])
    assert restore.restored_from is not None and not os.listdir(backup)  # deleted once the run completed
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_array_equal(a.data, b.data)
    assert h.history["loss"][-1] == h_straight.history["loss"][-1]


def test_every_epoch_leaves_one_complete_line_on_a_narrow_terminal(monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("COLUMNS", "40")
    term = Terminal()
    model = Sequential([Input(shape=(4,)), layers.Dense(3)])
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(X, LABELS, epochs=2, batch_size=8, verbose=0, validation_split=0.25,
              callbacks=[nnkit.callbacks.ProgbarLogger(verbose=1, stream=term)])
    lines = [line for line in term.getvalue().replace("\r", "\n").split("\n") if line.startswith("Epoch")
             and "val_accuracy: " in line]
    assert len(lines) == 2
    for line in lines:
        assert line.rstrip().split("val_accuracy: ")[1][:6].replace(".", "").isdigit()
