"""Every bad input of the training API fails before training starts, with a clear message."""
import numpy as np
import pytest
from toy import ToyModel, blobs

import nnkit
from nnkit import callbacks, losses

X, Y = blobs(40)


def make(loss="sparse_categorical_crossentropy", metrics=("accuracy",)):
    nnkit.set_seed(0)
    model = ToyModel()
    model.compile("adam", loss, metrics=list(metrics))
    return model


@pytest.fixture
def guarded(tmp_path):
    """A fit whose checkpoint file already exists: it must survive any pre-flight failure untouched."""
    path = tmp_path / "ckpt.npz"
    path.write_bytes(b"previous checkpoint")
    recorder = []

    class Tripwire(callbacks.Callback):
        def on_train_begin(self, logs=None):
            recorder.append("started")

    def run(model, *args, **kwargs):
        cbs = [callbacks.ModelCheckpoint(path, save_weights_only=True), Tripwire()]
        before = [w.data.copy() for w in model.weights]
        try:
            model.fit(*args, callbacks=cbs, **{"verbose": 0, **kwargs})
        finally:
            assert path.read_bytes() == b"previous checkpoint"
            assert recorder == []
            for a, w in zip(before, model.weights):
                np.testing.assert_array_equal(a, w.data)
    return run


def test_x_and_y_lengths(guarded):
    with pytest.raises(ValueError, match=r"x has 40 samples \(shape \(40, 4\)\) but y has 39"):
        guarded(make(), X, Y[:-1])
    with pytest.raises(ValueError, match="sample_weight has 3 samples"):
        guarded(make(), X, Y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"validation data\): x has 5 samples.*y has 4"):
        guarded(make(), X, Y, validation_data=(X[:5], Y[:4]))


def test_labels_outside_range(guarded):
    bad = Y.copy()
    bad[7] = 3
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\) for an output with 3 classes.*max 3"):
        guarded(make(), X, bad)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        guarded(make(), X, Y, validation_data=(X, -bad))


def test_one_hot_width(guarded):
    with pytest.raises(ValueError, match=r"one-hot targets have per-sample shape \(4,\).*\(3,\)"):
        guarded(make("categorical_crossentropy"), X, np.eye(4)[Y])
    with pytest.raises(ValueError, match="integer labels: use SparseCategoricalCrossentropy"):
        guarded(make("categorical_crossentropy"), X, Y)


def test_input_the_model_cannot_take(guarded):
    with pytest.raises(ValueError, match=r"ToyDense 'dense_0': expected input of shape \(None, 4\), got \(2, 5\)"):
        guarded(make(), np.ones((40, 5), np.float32), Y)


@pytest.mark.parametrize("kwargs,message", [
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"epochs": 0}, "epochs must be a positive integer, got 0"),
    ({"epochs": -1}, "epochs must be a positive integer"),
    ({"steps_per_epoch": 0}, "steps_per_epoch must be a positive integer"),
    ({"initial_epoch": 3, "epochs": 2}, r"initial_epoch must be an integer in \[0, epochs=2\)"),
    ({"validation_split": 1.5}, r"validation_split must be in \(0, 1\)"),
    ({"validation_split": 0.2, "validation_data": (X, Y)}, "not both"),
    ({"verbose": 3}, "verbose must be"),
    ({"sampling": "bootstrap"}, "unknown sampling"),
])
def test_bad_arguments(guarded, kwargs, message):
    with pytest.raises(ValueError, match=message):
        guarded(make(), X, Y, **kwargs)


def test_unknown_names_list_the_valid_ones():
    model = ToyModel()
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'; valid names: adadelta, adagrad, adam, adamax, adamw, ftrl, lion, nadam, rmsprop, sgd"):
        model.compile("adamm", "mse")
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'; valid names: .*sparse_categorical_crossentropy"):
        model.compile("adam", "crossentropy")
    with pytest.raises(ValueError, match="unknown metric 'accuarcy'; valid names: .*accuracy"):
        model.compile("adam", "mse", metrics=["accuarcy"])
    with pytest.raises(ValueError, match="metric names must be unique"):
        model.compile("adam", "mse", metrics=["mae", "mae"])


def test_nan_or_inf_in_data(guarded):
    x = X.copy()
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or infinite values in 1 sample.*index 3"):
        guarded(make(), x, Y)
    y = np.eye(3)[Y]
    y[5, 0] = np.inf
    with pytest.raises(ValueError, match="y contains NaN or infinite values.*index 5"):
        guarded(make("categorical_crossentropy"), X, y)


def test_not_compiled_or_no_loss():
    with pytest.raises(RuntimeError, match="must be compiled first"):
        ToyModel().fit(X, Y, verbose=0)
    model = ToyModel()
    model.compile("adam")
    with pytest.raises(RuntimeError, match="without a loss"):
        model.evaluate(X, Y, verbose=0)
    assert model.predict(X).shape == (40, 3)  # predict needs no loss


def test_missing_targets():
    with pytest.raises(ValueError, match="no targets"):
        make().fit(X, verbose=0)


def test_one_shot_generator_for_many_epochs():
    gen = ((X[i:i + 10], Y[i:i + 10]) for i in range(0, 40, 10))
    with pytest.raises(RuntimeError, match="exhausted"):
        make().fit(gen, epochs=2, verbose=0)


def test_loss_on_wrong_target_dtype():
    with pytest.raises(ValueError, match="integers"):
        make().fit(X, Y + 0.5, verbose=0)
    with pytest.raises(ValueError, match=r"targets have per-sample shape \(2,\) but the model's output"):
        make(losses.MeanSquaredError()).fit(X, np.ones((40, 2)), verbose=0)


def test_train_on_batch_checks_every_call_after_skipping_the_repeat_trial_forward():
    from nnkit.layers import Dense
    from nnkit.models import Sequential

    model = Sequential([Dense(3, input_shape=(4,))])
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(X, Y)
    model.train_on_batch(X, Y)  # same signature: no trial forward, still fine
    with pytest.raises(ValueError, match=r"train_on_batch: the model cannot take x of per-sample shape \(5,\)"):
        model.train_on_batch(np.zeros((8, 5), np.float32), Y[:8])
    with pytest.raises(ValueError, match="labels|class"):
        model.train_on_batch(X, np.full(len(X), 7))
