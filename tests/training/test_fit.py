"""fit / evaluate / predict / *_on_batch with a stand-in model."""
import re

import numpy as np
import pytest
from toy import ToyModel, blobs

import nnkit
from nnkit import callbacks, data, losses, optimizers

X, Y = blobs()
SCCE = losses.SparseCategoricalCrossentropy(from_logits=True)


def make(seed=0, dropout=0.0, optimizer=None, metrics=("accuracy",)):
    nnkit.set_seed(seed)
    model = ToyModel(dropout=dropout)
    model.compile(optimizer or optimizers.Adam(0.01), SCCE, metrics=list(metrics))
    return model


def test_fit_lowers_the_loss_and_returns_history():
    model = make()
    before = model.evaluate(X, Y, verbose=0, return_dict=True)
    history = model.fit(X, Y, epochs=5, batch_size=16, verbose=0)
    after = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert after["loss"] < 0.5 * before["loss"]
    assert after["accuracy"] > 0.9
    assert history.epoch == [0, 1, 2, 3, 4] and set(history.history) == {"loss", "accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            calls = object.__getattribute__(self, "calls")
            return lambda *args: calls.append((name,) + tuple(a for a in args if isinstance(a, int)))
        return object.__getattribute__(self, name)


def test_callbacks_fire_in_order():
    rec = Recorder()
    make().fit(X[:10], Y[:10], epochs=2, batch_size=4, validation_data=(X[10:15], Y[10:15]), callbacks=[rec],
               verbose=0)
    epoch = lambda e: ([("on_epoch_begin", e)] +  # noqa: E731
                       [c for b in range(3) for c in (("on_train_batch_begin", b), ("on_train_batch_end", b))] +
                       [("on_test_begin",)] +
                       [c for b in range(2) for c in (("on_test_batch_begin", b), ("on_test_batch_end", b))] +
                       [("on_test_end",), ("on_epoch_end", e)])
    assert rec.calls == [("on_train_begin",)] + epoch(0) + epoch(1) + [("on_train_end",)]
    assert rec.params["steps"] == 3 and rec.params["metrics"] == ["loss", "accuracy", "val_loss", "val_accuracy"]


def test_steps_per_epoch_continues_the_stream_and_repeats():
    model = make()
    x = np.arange(10, dtype=np.float32)[:, None].repeat(4, axis=1)
    y = np.zeros(10, int)
    model.fit(x, y, epochs=2, batch_size=3, steps_per_epoch=2, shuffle=False, verbose=0)
    assert [b[:, 0].tolist() for b in model.seen] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    model.seen.clear()
    h = model.fit(x, y, epochs=1, batch_size=4, steps_per_epoch=5, shuffle=False, verbose=0)
    assert [b[:, 0].tolist() for b in model.seen] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3],
                                                      [4, 5, 6, 7]]
    assert len(h.epoch) == 1


def test_shuffling_is_without_replacement_per_epoch():
    model = make()
    x = np.arange(12, dtype=np.float32)[:, None].repeat(4, axis=1)
    model.fit(x, np.zeros(12, int), epochs=2, batch_size=5, verbose=0)
    first, second = (np.concatenate([b[:, 0] for b in model.seen[i:i + 3]]) for i in (0, 3))
    assert sorted(first) == sorted(second) == list(range(12)) and not np.array_equal(first, second)


def test_same_seed_gives_bitwise_identical_weights():
    def run():
        model = make(seed=42, dropout=0.3)
        model.fit(X, Y, epochs=2, batch_size=16, verbose=0, validation_split=0.2)
        return [w.data.copy() for w in model.weights]
    a, b = run(), run()
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    nnkit.set_seed(43)
    other = make(seed=43, dropout=0.3)
    other.fit(X, Y, epochs=2, batch_size=16, verbose=0, validation_split=0.2)
    assert not np.array_equal(other.weights[0].data, a[0])


def test_chunked_source_trains_like_in_memory(tmp_path):
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    source = data.ChunkedSource(data.npy_chunks(tmp_path / "x.npy", tmp_path / "y.npy", chunk_size=25))
    a, b = make(), make()
    ha = a.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    hb = b.fit(source, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa.data, wb.data)
    assert ha.history == hb.history
    c = make()  # shuffled within buffers: still learns
    c.fit(data.ChunkedSource(data.npy_chunks(tmp_path / "x.npy", tmp_path / "y.npy", chunk_size=25)), epochs=4,
          batch_size=16, verbose=0)
    assert c.evaluate(X, Y, verbose=0, return_dict=True)["accuracy"] > 0.9


def test_generator_source_fit():
    def batches():
        for i in range(0, 120, 20):
            yield X[i:i + 20], Y[i:i + 20]
    model = make()
    h = model.fit(batches, epochs=3, verbose=0)
    assert len(model.seen) == 18 and h.history["loss"][-1] < h.history["loss"][0]
    with pytest.raises(ValueError, match="batch_size does not apply"):
        model.fit(batches, batch_size=4, verbose=0)


def test_non_terminal_progress_is_one_line_per_epoch(capsys):
    make().fit(X, Y, epochs=3, batch_size=8, validation_split=0.25, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert re.match(rf"Epoch {i + 1}/3 - 12 steps - [\d.]+s - \d+ samples/s - loss: [\d.]+ - accuracy: [\d.]+ - "
                        rf"val_loss: [\d.]+ - val_accuracy: [\d.]+$", line), line
    make().fit(X, Y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_is_exact_over_batches_and_predict_is_batched():
    model = make()
    model.fit(X, Y, epochs=1, verbose=0)
    w = np.random.default_rng(0).random(len(X))
    one = model.evaluate(X, Y, batch_size=len(X), verbose=0, sample_weight=w)
    many = model.evaluate(X, Y, batch_size=7, verbose=0, sample_weight=w)
    np.testing.assert_allclose(one, many, rtol=1e-6)
    logits = model(X).data
    probs_loss = SCCE.call(Y, nnkit.Tensor(logits)).data
    assert one[0] == pytest.approx((w * probs_loss).sum() / len(X), rel=1e-5)  # Keras 3: sum(w l) / N
    # a batch of 7 may take another GEMM kernel than all rows at once (MKL does): float32 rounding of the sums
    np.testing.assert_allclose(model.predict(X, batch_size=7), logits, rtol=1e-6, atol=1e-6 * np.abs(logits).max())
    assert model.predict(X[:3]).shape == (3, 3)


def test_train_and_test_on_batch():
    model = make()
    loss0, acc0 = model.test_on_batch(X, Y)
    for _ in range(30):
        logs = model.train_on_batch(X, Y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.test_on_batch(X, Y)[0] < loss0
    assert model.predict_on_batch(X[:2]).shape == (2, 3)


def test_metrics_named_as_given():
    def double_error(y_true, y_pred):
        return np.zeros(len(y_true))
    model = make(metrics=["acc", nnkit.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"), double_error])
    h = model.fit(X, Y, epochs=1, verbose=0, validation_split=0.25)
    assert list(h.history) == ["loss", "acc", "top2", "double_error", "val_loss", "val_acc", "val_top2",
                               "val_double_error"]


def test_training_state_resumes_bitwise():
    def straight():
        model = make(seed=5, dropout=0.2)
        h = model.fit(X, Y, epochs=4, batch_size=16, verbose=0, validation_split=0.2)
        return model, h

    full, full_h = straight()
    part = make(seed=5, dropout=0.2)
    part.fit(X, Y, epochs=2, batch_size=16, verbose=0, validation_split=0.2)
    saved_weights = part.get_weights()
    opt_state = part.optimizer.get_state()
    state = part.get_training_state()
    history = part.history.to_tree()
    nnkit.set_seed(999)  # a new process: nothing carried over
    resumed = make(seed=123, dropout=0.2)
    resumed.set_weights(saved_weights)
    resumed.optimizer.set_state(opt_state, weights=resumed.trainable_weights)
    resumed.set_training_state(state, history)
    h = resumed.fit(X, Y, epochs=4, batch_size=16, verbose=0, validation_split=0.2)
    for a, b in zip(full.weights, resumed.weights):
        np.testing.assert_array_equal(a.data, b.data)
    assert h.history == full_h.history and h.epoch == [0, 1, 2, 3]


def test_mid_epoch_resume_finishes_the_epoch():
    model = make(seed=1)
    model.fit(X, Y, epochs=1, batch_size=16, steps_per_epoch=3, verbose=0)
    state = model.get_training_state()
    assert state["epoch"] == 1 and state["step_in_epoch"] == 0 and state["stream"]["position"] == 48
    state = dict(state, epoch=0, step_in_epoch=2)
    model.set_training_state(state)
    model.seen.clear()
    model.fit(X, Y, epochs=1, batch_size=16, steps_per_epoch=3, verbose=0)
    assert len(model.seen) == 1  # one batch left of the three



def test_terminal_progress_bar_shows_eta_rate_and_metrics():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    term = Terminal()
    bar = nnkit.callbacks.ProgbarLogger(verbose=1, stream=term)
    make().fit(X, Y, epochs=2, batch_size=8, verbose=0, validation_split=0.25, callbacks=[bar])
    out = term.getvalue()
    assert "\r" in out and "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "samples/s" in out and "loss: " in out and "val_accuracy: " in out
    assert "12/12" in out and "<" in out  # tqdm's count and ETA


def test_validation_freq_and_history_epochs():
    h = make().fit(X, Y, epochs=4, verbose=0, validation_data=(X[:20], Y[:20]), validation_freq=2)
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 2
    assert h.epochs_of["val_loss"] == [1, 3]


def test_with_replacement_sampling_trains():
    model = make()
    h = model.fit(X, Y, epochs=3, batch_size=16, verbose=0, sampling="with_replacement")
    seen = np.concatenate([b[:, 0] for b in model.seen[:8]])
    assert len(seen) == len(X) and len(np.unique(seen)) < len(X)  # some samples drawn twice
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_predict_from_a_generator_and_evaluate_callbacks():
    model = make()
    batches = [X[i:i + 50] for i in range(0, 120, 50)]
    np.testing.assert_allclose(model.predict(lambda: iter(batches)), model.predict(X), rtol=1e-6)
    with pytest.raises(ValueError, match=r"x\[0\] has 50 samples .* but x\[2\] has 20"):
        model.predict(batches)  # a list of arrays is several inputs, as in Keras
    seen = []

    class Count(nnkit.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            seen.append(logs["size"])
    model.evaluate(X, Y, batch_size=50, verbose=0, callbacks=[Count()])
    assert seen == [50, 50, 20]
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        model.evaluate(X, Y, steps=0, verbose=0)
