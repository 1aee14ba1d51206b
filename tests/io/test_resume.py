"""Exact resume: 4 epochs straight == 2 epochs, checkpoint, fresh start, 2 more (bitwise)."""
import numpy as np
import pytest

import nnkit
from nnkit.callbacks import ModelCheckpoint
from nnkit.io import checkpoint, model_io
from nnkit.layers import BatchNormalization, Dense, Dropout, naming
from nnkit.models.sequential import Sequential


def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((60, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 0.5)
    return x, y


def make_model(seed=5, compiled=True):
    naming.clear_session()
    nnkit.set_seed(seed)
    model = Sequential([Dense(16, activation="relu", input_shape=(6,)), BatchNormalization(), Dropout(0.3),
                        Dense(3)], name="resumable")
    if compiled:
        model.compile(nnkit.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


def fit(model, epochs, callbacks=()):
    x, y = data()
    return model.fit(x, y, epochs=epochs, batch_size=8, validation_split=0.2, verbose=0, callbacks=list(callbacks))


def scramble_random_state():
    nnkit.set_seed(999)  # what a fresh process would have: nothing of the first run's generator state


def assert_same_training(a_model, a_history, b_model, b_history):
    assert [w.name for w in a_model.weights] == [w.name for w in b_model.weights]
    for wa, wb in zip(a_model.weights, b_model.weights):
        assert wa.data.tobytes() == wb.data.tobytes(), wa.name  # bitwise
    assert a_history.history == b_history.history
    sa, sb = a_model.optimizer.get_state(), b_model.optimizer.get_state()
    assert sa["iterations"] == sb["iterations"]
    assert all(sa["slots"][k].tobytes() == sb["slots"][k].tobytes() for k in sa["slots"])


def test_stop_and_resume_from_a_model_checkpoint_file_is_bitwise_identical(tmp_path):
    straight = make_model()
    straight_history = fit(straight, 4)

    first = make_model()
    fit(first, 2, [ModelCheckpoint(tmp_path / "epoch-{epoch}.nnkit", monitor="loss")])
    del first
    scramble_random_state()
    resumed = checkpoint.resume(tmp_path)  # the latest: epoch-2
    assert resumed.path.endswith("epoch-2.nnkit") and resumed.epoch == 2
    history = fit(resumed.model, 4)
    assert_same_training(straight, straight_history, resumed.model, history)
    assert list(history.epoch) == [0, 1, 2, 3]


def test_resume_into_an_existing_model_object(tmp_path):
    straight = make_model()
    straight_history = fit(straight, 4)
    first = make_model()
    fit(first, 2)
    checkpoint.save_checkpoint(tmp_path / "ckpt", first, epoch=2, step=first.optimizer.iterations,
                               history=first.history.to_tree(), state=first.get_training_state(include_rng=False))
    again = make_model(seed=11)  # same architecture and names, other weights
    scramble_random_state()
    restored = checkpoint.resume(tmp_path / "ckpt", model=again)
    assert restored.model is again and restored.step == first.optimizer.iterations
    assert_same_training(straight, straight_history, again, fit(again, 4))


def test_save_and_load_model_keeps_the_compiled_optimizer_state(tmp_path):
    model = make_model()
    fit(model, 1)
    model.save(tmp_path / "model.nnkit")
    loaded = nnkit.load_model(tmp_path / "model.nnkit")
    assert type(loaded.optimizer) is nnkit.optimizers.Adam and loaded.optimizer.learning_rate == 0.01
    assert loaded.metrics_names == model.metrics_names
    s0, s1 = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert s0["iterations"] == s1["iterations"] and s0["slots"].keys() == s1["slots"].keys()
    assert all(np.array_equal(s0["slots"][k], s1["slots"][k]) for k in s0["slots"])
    x, y = data()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    bare = nnkit.load_model(tmp_path / "model.nnkit", compile=False)
    assert getattr(bare, "optimizer", None) is None
    model.save(tmp_path / "no-opt.nnkit", include_optimizer=False)
    assert "optimizer" not in model_io.read_safetensors(tmp_path / "no-opt.nnkit")[1]


def test_resuming_with_another_optimizer_is_refused(tmp_path):
    model = make_model()
    fit(model, 1)
    checkpoint.save_checkpoint(tmp_path / "c", model, epoch=1)
    other = make_model()
    other.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="holds Adam state but the model is compiled with SGD"):
        checkpoint.load_checkpoint(tmp_path / "c", model=other)


def test_latest_checkpoint_skips_damaged_and_foreign_files(tmp_path):
    model = make_model()
    for epoch in (1, 2, 3):
        checkpoint.save_checkpoint(tmp_path / f"c{epoch}.nnkit", model, epoch=epoch)
    (tmp_path / "c3.nnkit").write_bytes((tmp_path / "c3.nnkit").read_bytes()[:100])  # torn by some other tool
    (tmp_path / ".c4.nnkit.abc.tmp").write_bytes(b"partial")
    (tmp_path / "notes.txt").write_text("hello")
    model.save(tmp_path / "model-only.nnkit")
    assert checkpoint.latest_checkpoint(tmp_path) == str(tmp_path / "c2.nnkit")
    assert checkpoint.latest_checkpoint(tmp_path / "absent") is None
    (tmp_path / "empty").mkdir()
    assert checkpoint.resume(tmp_path / "empty") is None
    with pytest.raises(ValueError, match="model-only.nnkit.*not a training checkpoint"):
        checkpoint.load_checkpoint(tmp_path / "model-only.nnkit")


def test_resume_into_an_uncompiled_model_compiles_it_as_saved(tmp_path):
    straight = make_model()
    straight_history = fit(straight, 4)
    first = make_model()
    fit(first, 2, [ModelCheckpoint(tmp_path / "c-{epoch}", monitor="loss")])
    bare = make_model(compiled=False)
    scramble_random_state()
    checkpoint.resume(tmp_path, model=bare)
    assert type(bare.optimizer) is nnkit.optimizers.Adam
    assert_same_training(straight, straight_history, bare, fit(bare, 4))
