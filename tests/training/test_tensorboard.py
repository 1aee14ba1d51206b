"""The TensorBoard callback writes event files that TensorBoard reads: scalars per epoch (Keras's tags and
train/validation layout), the learning rate, batch summaries; read back here record by record."""
import glob
import os
import struct

import numpy as np
import pytest

import nnkit
from nnkit import callbacks, layers, optimizers, schedules

event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")


def read_scalars(directory):
    """``{tag: [(step, value)]}`` from every event file in ``directory`` (the TFRecord framing: length,
    its CRC, the serialized Event, its CRC)."""
    out = {}
    files = glob.glob(os.path.join(directory, "events.out.tfevents.*"))
    assert files, f"no event file in {directory}"
    for path in files:
        data = open(path, "rb").read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def model_and_data():
    nnkit.set_seed(0)
    model = nnkit.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizers.SGD(schedules.ExponentialDecay(0.1, 2, 0.5)), "mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    return model, rng.standard_normal((16, 3)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)


def test_epoch_scalars_and_learning_rate(tmp_path):
    model, x, y = model_and_data()
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, validation_data=(x, y),
                        callbacks=[callbacks.TensorBoard(tmp_path, write_steps_per_second=True)])
    train, val = read_scalars(tmp_path / "train"), read_scalars(tmp_path / "validation")
    for tag, key in (("epoch_loss", "loss"), ("epoch_mae", "mae")):
        assert [s for s, _ in train[tag]] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in train[tag]], history.history[key], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val["epoch_loss"]], history.history["val_loss"], rtol=1e-6)
    # the schedule halves the rate every 2 steps; 4 steps per epoch: the rate after epochs 1, 2, 3
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.1 * 0.5 ** 2, 0.1 * 0.5 ** 4,
                                                                              0.1 * 0.5 ** 6], rtol=1e-6)
    assert all(v > 0 for _, v in train["epoch_steps_per_second"])
    assert "epoch_val_loss" not in train


def test_batch_summaries(tmp_path):
    model, x, y = model_and_data()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[callbacks.TensorBoard(tmp_path, update_freq=3)])
    train = read_scalars(tmp_path / "train")
    assert [s for s, _ in train["batch_loss"]] == [3, 6]
    assert not os.path.exists(tmp_path / "validation")


def test_unsupported_arguments():
    with pytest.raises(ValueError, match="TensorBoard: histogram_freq=1 is not supported"):
        callbacks.TensorBoard(histogram_freq=1)
    with pytest.raises(ValueError, match="update_freq must be 'epoch', 'batch' or a positive int"):
        callbacks.TensorBoard(update_freq=0)
