"""The built-in callbacks."""
import csv

import numpy as np
import pytest
from toy import ToyModel, blobs

import nnkit
from nnkit import callbacks, losses, optimizers, plot

X, Y = blobs()
SCCE = losses.SparseCategoricalCrossentropy(from_logits=True)


def make(seed=0, lr=0.01, dropout=0.0):
    nnkit.set_seed(seed)
    model = ToyModel(dropout=dropout)
    model.compile(optimizers.SGD(lr), SCCE, metrics=["accuracy"])
    return model


class ScriptedLogs(callbacks.Callback):
    """Overwrites one epoch log with scripted values (before the monitors read it)."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


def test_early_stopping_restores_the_best_weights_even_without_stopping():
    model = make()
    snapshots = []
    keep = callbacks.LearningRateScheduler(lambda e, lr: lr)

    class Snap(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(model.get_weights())
    es = callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    model.fit(X, Y, epochs=4, verbose=0, validation_split=0.2,
              callbacks=[ScriptedLogs("val_loss", [3.0, 1.0, 2.0, 2.5]), Snap(), es, keep])
    assert es.stopped_epoch is None and es.best_epoch == 1
    for a, b in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_stops_after_patience():
    model = make()
    es = callbacks.EarlyStopping(monitor="loss", patience=2)
    h = model.fit(X, Y, epochs=10, verbose=0, callbacks=[ScriptedLogs("loss", [5, 4, 4.5, 4.2, 1, 1, 1, 1, 1, 1]), es])
    assert es.stopped_epoch == 3 and h.epoch == [0, 1, 2, 3]
    base = callbacks.EarlyStopping(monitor="loss", patience=1, baseline=3.0)
    h = make().fit(X, Y, epochs=10, verbose=0, callbacks=[ScriptedLogs("loss", [5, 4] + [3.5] * 8), base])
    assert h.epoch == [0, 1]


def test_monitor_that_will_not_be_logged_fails_before_training(tmp_path):
    model = make()
    with pytest.raises(ValueError, match="'val_loss' will not be logged.*validation_data"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])
    with pytest.raises(ValueError, match="unknown mode"):
        callbacks.EarlyStopping(mode="up")


def test_reduce_lr_on_plateau():
    model = make(lr=0.1)
    cb = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.03)
    h = model.fit(X, Y, epochs=5, verbose=0, callbacks=[ScriptedLogs("loss", [1.0, 1.0, 1.0, 1.0, 1.0]), cb])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.03, 0.03])  # the rate each epoch used
    assert model.optimizer.learning_rate == pytest.approx(0.03)
    scheduled = make()
    scheduled.compile(optimizers.SGD(nnkit.schedules.ExponentialDecay(0.1, 10, 0.5)), SCCE)
    with pytest.raises(ValueError, match="schedule"):
        scheduled.fit(X, Y, verbose=0, callbacks=[callbacks.ReduceLROnPlateau(monitor="loss")])


def test_learning_rate_scheduler():
    model = make(lr=1.0)
    h = model.fit(X, Y, epochs=3, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: 0.1 / (e + 1))])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_terminate_on_nan_names_the_layer(capsys):
    model = make()
    model.layers[0].kernel.data *= 1e10  # finite weights whose first output overflows float32
    cb = callbacks.TerminateOnNaN()
    with np.errstate(all="ignore"):
        h = model.fit(X * 1e30, Y, epochs=3, batch_size=16, verbose=0, callbacks=[cb])
    assert len(h.epoch) == 1 and model.optimizer.iterations == 0  # the bad update was not applied
    assert all(np.isfinite(w.data).all() for w in model.weights)
    assert "Batch 0: invalid loss" in cb.report
    assert "First non-finite output: ToyDense 'dense_0'" in cb.report
    assert "already non-finite" not in cb.report
    assert "terminating" in capsys.readouterr().err


def test_nan_loss_without_terminate_warns_once():
    model = make(lr=1e30)
    model.layers[1].kernel.data[0, 0] = np.nan
    with pytest.warns(RuntimeWarning, match="TerminateOnNaN") as record:
        model.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert "dense_1" in model.diagnose_nonfinite()


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    make().fit(X, Y, epochs=2, verbose=0, validation_split=0.2, callbacks=[callbacks.CSVLogger(path)])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"] and len(rows) == 3
    make().fit(X, Y, epochs=1, verbose=0, validation_split=0.2, callbacks=[callbacks.CSVLogger(path, append=True)])
    rows = list(csv.reader(open(path)))
    assert len(rows) == 4 and rows[3][0] == "0"


def test_model_checkpoint_templates_best_only_and_batches(tmp_path):
    model = make()
    every = callbacks.ModelCheckpoint(tmp_path / "w-{epoch:02d}-{loss:.2f}.npz", save_weights_only=True)
    best = callbacks.ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="val_loss", save_best_only=True,
                                     save_weights_only=True)
    batches = callbacks.ModelCheckpoint(tmp_path / "b-{epoch}-{batch}.npz", save_weights_only=True, save_freq=2)
    model.fit(X, Y, epochs=3, batch_size=40, verbose=0, validation_split=0.25,
              callbacks=[ScriptedLogs("val_loss", [2.0, 3.0, 1.0]), every, best, batches])
    assert [p.split("/")[-1][:5] for p in every.saved] == ["w-01-", "w-02-", "w-03-"]
    assert [p.split("/")[-1] for p in best.saved] == ["best-1.npz", "best-3.npz"]
    assert [p.split("/")[-1] for p in batches.saved] == ["b-1-2.npz", "b-2-1.npz", "b-2-3.npz", "b-3-2.npz"]
    assert all(np.load(p).files for p in every.saved)
    with pytest.raises(ValueError, match="template.*available keys: epoch, batch, accuracy, loss"):
        make().fit(X, Y, verbose=0, callbacks=[callbacks.ModelCheckpoint(tmp_path / "{nope}.npz",
                                                                         save_weights_only=True)])
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("x", save_freq=0)


def test_history_plot(tmp_path):
    pytest.importorskip("matplotlib")
    h = make().fit(X, Y, epochs=3, verbose=0, validation_split=0.2)
    path = h.plot(tmp_path / "curves.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert plot.learning_curves(h, tmp_path / "loss.png", metrics=["loss"]).endswith("loss.png")
    with pytest.raises(ValueError, match="not in the history"):
        plot.learning_curves(h, tmp_path / "x.png", metrics=["auc"])


def test_callbacks_must_be_callbacks():
    with pytest.raises(TypeError, match="Callback instances"):
        make().fit(X, Y, verbose=0, callbacks=[lambda: None])
