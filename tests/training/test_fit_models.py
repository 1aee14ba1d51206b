"""The Trainer on real nnkit models: Sequential with conv, batch norm and dropout."""
import numpy as np
import pytest

import nnkit
from nnkit import callbacks, layers


def small_cnn():
    return nnkit.Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1), name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dropout(0.3, name="drop"),
        layers.Dense(3, activation="softmax", name="out"),
    ])


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 8, 8, 1)).astype(np.float32) * 0.5
    x[np.arange(n), y * 2 + 1, 2:6, 0] += 2.0  # a bright row whose position gives the class
    return x, y


def make(seed=0):
    nnkit.set_seed(seed)
    model = small_cnn()
    model.compile(nnkit.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_learns_and_is_reproducible_with_bn_and_dropout():
    x, y = data()

    def run():
        model = make(3)
        h = model.fit(x, y, epochs=6, batch_size=16, verbose=0, validation_split=0.25)
        return model, h
    (a, ha), (b, hb) = run(), run()
    for wa, wb in zip(a.weights, b.weights):  # includes the BN running statistics
        np.testing.assert_array_equal(wa.data, wb.data)
    assert ha.history == hb.history
    assert ha.history["loss"][-1] < ha.history["loss"][0]
    assert a.evaluate(x, y, verbose=0)[1] > 0.8


def test_input_shape_error_names_the_first_layer():
    model = make()
    with pytest.raises(ValueError, match=r"per-sample shape \(9, 9, 2\); its first layer Conv2D .conv. expects input of shape \(None, 8, 8, 1\)"):
        model.fit(np.zeros((8, 9, 9, 2), np.float32), np.zeros(8, int), verbose=0)


def test_full_checkpoint_from_model_checkpoint(tmp_path):
    x, y = data()
    model = make()
    ckpt = callbacks.ModelCheckpoint(tmp_path / "e{epoch}.nnk", monitor="val_loss", save_best_only=True)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_split=0.25, callbacks=[ckpt])
    assert ckpt.saved
    from nnkit.io.checkpoint import load_checkpoint
    restored = load_checkpoint(ckpt.saved[-1])
    assert restored.epoch == int(ckpt.saved[-1].split("e")[-1].split(".")[0])
    assert restored.state["stream"]["order"] is not None and "loss" in restored.history["history"]


def test_terminate_on_nan_names_a_real_layer():
    x, y = data()
    model = make()
    model.fit(x[:16], y[:16], epochs=1, verbose=0)
    model.get_layer("out").weights[0].data[:] = np.float32(3e38)
    cb = callbacks.TerminateOnNaN()
    with np.errstate(all="ignore"):
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    assert "First non-finite output: Dense 'out'" in cb.report


def test_compile_config_round_trip():
    model = make()
    config = model.get_compile_config()
    import json
    other = small_cnn()
    other.compile_from_config(json.loads(json.dumps(config)))
    assert type(other.optimizer) is nnkit.optimizers.Adam and other.optimizer.learning_rate == 0.01
    assert other.metrics_names == ["loss", "accuracy"]
