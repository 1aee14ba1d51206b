"""RNN(cell) and the cells: built-in cells give what the layers give, stacks equal the layers stacked, a custom
cell runs Keras's step loop (masks, go_backwards, states), cells step on their own, configs and gradients."""
import json

import numpy as np
import pytest
from layer_helper import check_layer, gradient_check
from test_layer_recurrent import padded_mask, reference

from nnkit import Input, Model, Tensor, ops
from nnkit.io import model_io
from nnkit.layers import (GRU, LSTM, RNN, Bidirectional, Dense, GRUCell, Layer, LSTMCell, SimpleRNN, SimpleRNNCell,
                          StackedRNNCells, deserialize, register, serialize)

rng = np.random.default_rng(13)
B, T, F, U = 3, 5, 2, 4
PAIRS = [(SimpleRNNCell, SimpleRNN, {}), (LSTMCell, LSTM, {}), (GRUCell, GRU, dict(reset_after=False))]


class MinimalCell(Layer):
    """Keras's documentation example: ``h = x @ kernel + h @ recurrent_kernel``, no activation."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units))

    def call(self, inputs, states):
        h = ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def minimal_loop(x, kernel, recurrent, mask=None, go_backwards=False):
    h, outputs = np.zeros((x.shape[0], kernel.shape[1])), []
    for t in (range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])):
        new = x[:, t] @ kernel + h @ recurrent
        if mask is not None:
            new = np.where(mask[:, t, None], new, h)  # Keras: a masked step outputs the previous state
        h = new
        outputs.append(h)
    return np.stack(outputs, axis=1), h


@pytest.mark.parametrize("cell_cls, layer_cls, extra", PAIRS, ids=["SimpleRNN", "LSTM", "GRU"])
def test_rnn_of_a_built_in_cell_is_the_layer(cell_cls, layer_cls, extra):
    x = rng.standard_normal((B, T, F))
    rnn = RNN(cell_cls(U, dtype="float64", **extra), return_sequences=True, return_state=True, go_backwards=True,
              dtype="float64")
    got = rnn(Tensor(x), mask=padded_mask())
    layer = layer_cls(U, return_sequences=True, return_state=True, go_backwards=True, dtype="float64", **extra)
    layer(Tensor(x))
    layer.set_weights(rnn.get_weights())
    for have, want in zip(got, layer(Tensor(x), mask=padded_mask())):
        np.testing.assert_allclose(have.data, want.data, rtol=1e-12)
    assert rnn.count_params() == layer.count_params()
    assert [w.name for w in rnn.weights] == [f"{rnn.name}/{rnn.cell.name}/{n}" for n in
                                             ("kernel", "recurrent_kernel", "bias")]


def test_layer_contract_for_rnn_and_stacked_cells():
    check_layer(RNN, dict(cell=LSTMCell(3)), (4, 2), expected_shape=(None, 3), expected_params=4 * 3 * 6)
    check_layer(RNN, dict(cell=[GRUCell(3), SimpleRNNCell(2)], return_sequences=True), (4, 2),
                expected_shape=(None, 4, 2), expected_params=3 * 3 * (2 + 3 + 2) + 2 * (3 + 2 + 1))


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_stacked_cells_equal_the_layers_stacked(go_backwards, masked):
    x = rng.standard_normal((B, T, F))
    mask = padded_mask() if masked else None
    rnn = RNN([LSTMCell(U, dtype="float64"), GRUCell(3, dtype="float64")], return_sequences=True,
              return_state=True, go_backwards=go_backwards, dtype="float64")
    out, h1, c1, h2 = rnn(Tensor(x), mask=mask)
    first = LSTM(U, return_sequences=True, return_state=True, go_backwards=go_backwards, dtype="float64")
    first(Tensor(x))
    first.set_weights(rnn.get_weights()[:3])
    second = GRU(3, return_sequences=True, return_state=True, dtype="float64")
    sequence, want_h1, want_c1 = first(Tensor(x), mask=mask)
    second(sequence)
    second.set_weights(rnn.get_weights()[3:])
    processing_mask = None if mask is None else (mask[:, ::-1] if go_backwards else mask)
    want_out, want_h2 = second(sequence, mask=processing_mask)  # the first layer's outputs come in its order
    for have, want in ((out, want_out), (h1, want_h1), (c1, want_c1), (h2, want_h2)):
        np.testing.assert_allclose(have.data, want.data, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_a_custom_cell_runs_keras_step_loop(go_backwards, masked):
    x = rng.standard_normal((B, T, F))
    mask = padded_mask() if masked else None
    rnn = RNN(MinimalCell(U), return_sequences=True, return_state=True, go_backwards=go_backwards, dtype="float64")
    out, h = rnn(Tensor(x), mask=mask)
    kernel, recurrent = rnn.get_weights()
    want_out, want_h = minimal_loop(x, kernel, recurrent, mask, go_backwards)
    np.testing.assert_allclose(out.data, want_out, rtol=1e-12)
    np.testing.assert_allclose(h.data, want_h, rtol=1e-12)

    def call(layer, inputs):
        return layer(inputs, mask=None if mask is None else mask[:2, :4], training=False)
    gradient_check(RNN(MinimalCell(3), return_sequences=True, dtype="float64"), [(4, 2), (3,)], call)


def test_custom_cell_config_round_trip_and_stateful_loop():
    register(MinimalCell)
    rnn = RNN(MinimalCell(U), stateful=True)
    x = rng.standard_normal((2, T, F)).astype(np.float32)
    first = rnn(x).data
    assert not np.allclose(rnn(x).data, first)
    rnn.reset_states()
    np.testing.assert_array_equal(rnn(x).data, first)
    again = deserialize(json.loads(json.dumps(serialize(rnn))))
    assert again.get_config() == rnn.get_config() and again.stateful
    assert isinstance(again.cell, MinimalCell) and again.cell.units == U


def test_a_cell_steps_on_its_own_as_the_layer_does():
    cell = LSTMCell(U, dtype="float64")
    x = rng.standard_normal((B, T, F))
    states = [Tensor(np.zeros((B, U))), Tensor(np.zeros((B, U)))]
    outputs = []
    for t in range(T):
        out, states = cell(Tensor(x[:, t]), states)
        outputs.append(out.data)
    layer = LSTM(U, return_sequences=True, dtype="float64")
    layer(Tensor(x))
    layer.set_weights(cell.get_weights())
    np.testing.assert_allclose(np.stack(outputs, axis=1), reference(layer, x)[0], rtol=1e-12)
    assert cell.state_size == [U, U] and GRUCell(3).state_size == 3 and cell.output_size == U
    assert [w.name for w in cell.weights] == ["lstm_cell/kernel", "lstm_cell/recurrent_kernel", "lstm_cell/bias"]


def test_dropout_masks_are_drawn_once_per_sequence_in_the_step_loop():
    """A built-in cell inside a stack with a custom cell steps one at a time, with one mask per RNN call."""
    x = rng.standard_normal((B, T, F))
    cell = SimpleRNNCell(U, dropout=0.5, recurrent_dropout=0.5, seed=2, dtype="float64")
    rnn = RNN([cell, MinimalCell(3, dtype="float64")], return_sequences=True, dtype="float64")
    rnn(Tensor(x))
    draws = np.random.default_rng(2)
    input_mask = (draws.random((B, F)) < 0.5) / 0.5
    recurrent_mask = (draws.random((B, U)) < 0.5) / 0.5
    k, r, b, k2, r2 = rnn.get_weights()
    h, h2, want = np.zeros((B, U)), np.zeros((B, 3)), []
    for t in range(T):
        h = np.tanh((x[:, t] * input_mask) @ k + (h * recurrent_mask) @ r + b)
        h2 = h @ k2 + h2 @ r2
        want.append(h2)
    np.testing.assert_allclose(rnn(Tensor(x), training=True).data, np.stack(want, axis=1), rtol=1e-12)
    assert cell._held_masks is None


def test_bidirectional_rnn_and_saving(tmp_path):
    inputs = Input(shape=(T, F))
    encoded = Bidirectional(RNN([LSTMCell(3), GRUCell(2)], return_sequences=True))(inputs)
    model = Model(inputs, Dense(1)(RNN(SimpleRNNCell(4))(encoded)))
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    predicted = model.predict(x, verbose=0)
    model.save(tmp_path / "rnn.nnkit")
    loaded = model_io.load_model(tmp_path / "rnn.nnkit")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), predicted)
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]


@pytest.mark.parametrize("make, error, match", [
    (lambda: RNN(Dense(3)), TypeError, r"RNN 'rnn': a cell needs a call\(inputs, states\) method and a state_size"),
    (lambda: StackedRNNCells([]), ValueError, "needs at least one cell"),
    (lambda: RNN(LSTMCell(3))(np.zeros((2, 4), np.float32)), ValueError, r"RNN 'rnn': expected a 3-D input"),
    (lambda: LSTMCell(3)(np.zeros((2, 4, 1), np.float32), [np.zeros((2, 3), np.float32)] * 2), ValueError,
     r"LSTMCell 'lstm_cell': expected one step \(batch, features\)"),
    (lambda: RNN(GRUCell(3))(np.zeros((2, 4, 1), np.float32), initial_state=[np.zeros((2, 4), np.float32)]),
     ValueError, r"RNN 'rnn': initial state #0 must have shape \(batch, units\) = \(2, 3\), got \(2, 4\)"),
])
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()
