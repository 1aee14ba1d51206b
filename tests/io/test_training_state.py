"""A checkpoint's whole training state is validated on load: every malformed field is a FileFormatError naming
the file and the field, before anything of it is used (it used to load and fail at the next fit, or be cast)."""
import json

import numpy as np
import pytest

from nnkit.callbacks import EarlyStopping, ModelCheckpoint
from nnkit.io import checkpoint
from nnkit.io.checkpoint import latest_checkpoint, load_checkpoint, resume
from nnkit.io.errors import FileFormatError
from nnkit.io.safetensors_io import read_safetensors, write_safetensors
from nnkit.layers import Dense
from nnkit.models.sequential import Sequential

X = np.random.default_rng(0).standard_normal((32, 3)).astype(np.float32)
Y = (X.sum(axis=1) > 0).astype(np.int64)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A checkpoint written by fit, with a data stream, callback counters and History."""
    path = tmp_path_factory.mktemp("ckpt") / "c.nnk"
    model = Sequential([Dense(4, activation="relu", input_shape=(3,), name="d1"), Dense(2, name="d2")], name="m")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0,
              callbacks=[EarlyStopping(monitor="loss", patience=5), ModelCheckpoint(str(path), monitor="loss")])
    return path


def edited(saved, tmp_path, training=None, tensors=None):
    """A copy of the checkpoint with its training entry and tensors changed by the given functions."""
    arrays, metadata = read_safetensors(saved)
    entry = json.loads(metadata["training"])
    if training is not None:
        training(entry)
    if tensors is not None:
        tensors(arrays)
    metadata["training"] = json.dumps(entry)
    write_safetensors(tmp_path / "bad.nnk", arrays, metadata)
    return tmp_path / "bad.nnk"


def tensor_name(arrays, fragment):
    return next(k for k in arrays if fragment in k)


def test_the_valid_checkpoint_resumes(saved):
    ckpt = resume(saved)
    assert ckpt.epoch == 2 and isinstance(ckpt.state["stream"], dict) and ckpt.state["callbacks"]


def set_in(path, value):
    def edit(entry):
        node = entry
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


@pytest.mark.parametrize("path,value,field", [
    (("epoch",), -5, "training.epoch"),
    (("epoch",), 10**30, "training.epoch"),
    (("epoch",), "x", "training.epoch"),
    (("epoch",), 1.5, "training.epoch"),
    (("epoch",), True, "training.epoch"),
    (("step",), -1, "training.step"),
    (("state", "epoch"), "x", "training.state.epoch"),
    (("state", "iterations"), -3, "training.state.iterations"),
    (("state", "step_in_epoch"), [1], "training.state.step_in_epoch"),
    (("state", "stream"), [1, 2], "training.state.stream"),
    (("state", "stream", "position"), -1, "training.state.stream.position"),
    (("state", "stream", "position"), 10**6, "training.state.stream.position"),
    (("state", "stream", "passes"), "2", "training.state.stream.passes"),
    (("state", "stream", "surprise"), 1, "training.state.stream"),
    (("state", "callbacks"), [], "training.state.callbacks"),
    (("state", "callbacks", "0:EarlyStopping", "wait"), [1], "training.state.callbacks.0:EarlyStopping.wait"),
    (("state", "rng"), {"bit_generator": "nope"}, "training.state.rng"),
    (("history",), [], "training.history"),
    (("history", "history", "loss"), ["a"], "training.history.history.loss[0]"),
    (("history", "history", "loss"), 0.5, "training.history.history.loss"),
    (("history", "epoch"), [-1], "training.history.epoch[0]"),
])
def test_malformed_training_fields_are_errors_naming_the_field(saved, tmp_path, path, value, field):
    bad = edited(saved, tmp_path, training=set_in(path, value))
    with pytest.raises(FileFormatError) as info:
        load_checkpoint(bad, restore_rng=False)
    message = str(info.value)
    assert str(bad) in message and field in message, message


@pytest.mark.parametrize("change,field", [
    (lambda a: a.update({tensor_name(a, "/slots/m/d1/kernel"): a[tensor_name(a, "/slots/m/d1/kernel")].astype(np.int32)}),
     "optimizer.state.slots.m/d1/kernel"),
    (lambda a: a.update({tensor_name(a, "/slots/v/d2/bias"): a[tensor_name(a, "/slots/v/d2/bias")].astype(np.float64)}),
     "optimizer.state.slots.v/d2/bias"),
    (lambda a: a.update({tensor_name(a, "stream/order"): a[tensor_name(a, "stream/order")].astype(np.float32)}),
     "training.state.stream.order"),
    (lambda a: a.update({tensor_name(a, "stream/order"): -a[tensor_name(a, "stream/order")] - 1}),
     "training.state.stream.order"),
])
def test_tensors_of_the_wrong_kind_are_errors_naming_the_field(saved, tmp_path, change, field):
    bad = edited(saved, tmp_path, tensors=change)
    with pytest.raises(FileFormatError) as info:
        load_checkpoint(bad, restore_rng=False)
    assert field in str(info.value), str(info.value)


def test_optimizer_counts_are_checked(saved, tmp_path):
    arrays, metadata = read_safetensors(saved)
    optimizer = json.loads(metadata["optimizer"])
    optimizer["state"]["iterations"] = -4
    metadata["optimizer"] = json.dumps(optimizer)
    write_safetensors(tmp_path / "bad.nnk", arrays, metadata)
    with pytest.raises(FileFormatError, match="optimizer.state.iterations"):
        load_checkpoint(tmp_path / "bad.nnk", restore_rng=False)


def test_latest_checkpoint_skips_an_epoch_out_of_range(saved, tmp_path):
    good = tmp_path / "good.nnk"
    good.write_bytes(saved.read_bytes())
    edited(saved, tmp_path, training=set_in(("epoch",), 10**30))  # would otherwise look the most advanced
    assert latest_checkpoint(tmp_path) == str(good)
    with pytest.raises(FileFormatError, match="epoch"):
        checkpoint.checkpoint_progress(tmp_path / "bad.nnk")
