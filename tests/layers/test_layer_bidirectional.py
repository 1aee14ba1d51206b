"""Bidirectional against Keras 3's semantics: the forward layer and a go_backwards copy, the backward outputs
re-reversed, the merge modes, states in Keras's order, masks (zeros at masked steps when sequences are returned),
weights, configs, stateful resets, gradients and save/load."""
import json

import numpy as np
import pytest
from layer_helper import check_layer
from test_layer_recurrent import padded_mask, reference

import nnkit
from nnkit import Input, Model, Sequential, Tensor
from nnkit.io import model_io
from nnkit.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN, deserialize, serialize

rng = np.random.default_rng(12)
B, T, F, U = 3, 5, 2, 4
MERGES = {"concat": lambda a, b: np.concatenate([a, b], -1), "sum": np.add, "mul": np.multiply,
          "ave": lambda a, b: (a + b) / 2}


@pytest.mark.parametrize("inner", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_merged_outputs_and_states_match_the_two_loops(inner, merge_mode, return_sequences, masked):
    x = rng.standard_normal((B, T, F))
    mask = padded_mask() if masked else None
    layer = Bidirectional(inner(U, return_sequences=return_sequences, return_state=True, dtype="float64"),
                          merge_mode=merge_mode)
    got = layer(Tensor(x), mask=mask)
    forward, backward = layer.forward_layer, layer.backward_layer
    assert backward.go_backwards and not forward.go_backwards
    y, fwd_states = reference(forward, x, None, mask)
    y_rev, bwd_states = reference(backward, x, None, mask)
    if return_sequences:
        y_rev = y_rev[:, ::-1]  # aligned with the forward steps again
    else:
        y, y_rev = y[:, -1], y_rev[:, -1]
    outputs = [y, y_rev] if merge_mode is None else [MERGES[merge_mode](y, y_rev)]
    want = outputs + fwd_states + bwd_states
    assert len(got) == len(want)
    for have, expected in zip(got, want):
        np.testing.assert_allclose(have.data, expected, rtol=1e-10, atol=1e-12)
    if masked and return_sequences:  # Keras: zeros at masked steps
        for out in got[:len(outputs)]:
            assert np.all(out.data[~mask] == 0)
    assert layer.compute_output_shape((None, T, F)) == [tuple((None,) + o.shape[1:]) for o in want]


@pytest.mark.parametrize("inner, count", [(LSTM, 2), (GRU, 1)])
def test_initial_state_is_the_forward_states_then_the_backward_ones(inner, count):
    x = rng.standard_normal((B, T, F))
    states = [rng.standard_normal((B, U)) for _ in range(2 * count)]
    layer = Bidirectional(inner(U, dtype="float64"), merge_mode=None)
    y, y_rev = layer(Tensor(x), initial_state=[Tensor(s) for s in states])
    np.testing.assert_allclose(y.data, reference(layer.forward_layer, x, states[:count])[0][:, -1], rtol=1e-10)
    np.testing.assert_allclose(y_rev.data, reference(layer.backward_layer, x, states[count:])[0][:, -1],
                               rtol=1e-10)
    with pytest.raises(ValueError, match="Bidirectional 'bidirectional': initial_state must hold the forward"):
        layer(Tensor(x), initial_state=[Tensor(states[0])] * 3)


@pytest.mark.parametrize("merge_mode, params", [("concat", 2 * 4 * 3 * (2 + 3 + 1)), ("ave", 2 * 4 * 3 * 6)])
def test_layer_contract_with_gradient_check(merge_mode, params):
    expected = (None, 4, 6 if merge_mode == "concat" else 3)
    layer = check_layer(Bidirectional, dict(layer=LSTM(3, return_sequences=True), merge_mode=merge_mode), (4, 2),
                        expected_shape=expected, expected_params=params)
    assert [w.name for w in layer.weights] == [f"{layer.name}/{d}_lstm/lstm_cell/{n}" for d in ("forward", "backward")
                                               for n in ("kernel", "recurrent_kernel", "bias")]
    check_layer(Bidirectional, dict(layer=GRU(2), merge_mode="mul"), (3, 2), expected_shape=(None, 2))


def test_names_weights_argument_and_backward_layer():
    layer = Bidirectional(GRU(U, name="encoder"))
    assert (layer.forward_layer.name, layer.backward_layer.name) == ("forward_encoder", "backward_encoder")
    layer(np.zeros((1, T, F), np.float32))
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights]
    again = Bidirectional(GRU(U), weights=weights)
    again(np.zeros((1, T, F), np.float32))
    for have, want in zip(again.get_weights(), weights):
        np.testing.assert_array_equal(have, want)
    custom = Bidirectional(LSTM(U), backward_layer=SimpleRNN(3, go_backwards=True), merge_mode="concat")
    assert custom(np.zeros((2, T, F), np.float32)).shape == (2, U + 3)
    assert custom.compute_output_shape((None, T, F)) == (None, U + 3)


def test_config_round_trip_with_the_nested_layers():
    layer = Bidirectional(LSTM(U, return_sequences=True, dropout=0.1), merge_mode="sum",
                          backward_layer=LSTM(U, return_sequences=True, go_backwards=True, unit_forget_bias=False))
    layer(np.zeros((1, T, F), np.float32))
    config = json.loads(json.dumps(layer.get_config()))
    assert config["layer"]["config"]["name"] == "forward_lstm"
    assert config["backward_layer"]["config"]["unit_forget_bias"] is False
    again = deserialize(json.loads(json.dumps(serialize(layer))))
    assert again.get_config() == layer.get_config()
    # the copy is named after the layer; a given backward_layer keeps its own name
    assert again.forward_layer.name == "forward_lstm" and again.backward_layer.name == "lstm_1"


def test_stateful_bidirectional_carries_and_resets():
    layer = Bidirectional(GRU(U, stateful=True, dtype="float64"))
    x = rng.standard_normal((2, T, F))
    first = layer(Tensor(x)).data
    assert len(layer.states) == 2
    assert not np.allclose(layer(Tensor(x)).data, first)
    layer.reset_states()
    np.testing.assert_array_equal(layer(Tensor(x)).data, first)
    with pytest.raises(AttributeError, match="Bidirectional 'bidirectional_1': reset_state: the layer is not "
                                             "stateful"):
        Bidirectional(GRU(U)).reset_state()


def test_compute_mask():
    mask = padded_mask()
    assert Bidirectional(LSTM(U)).compute_mask(None, mask) is None
    assert Bidirectional(LSTM(U, return_sequences=True)).compute_mask(None, mask) is mask
    assert Bidirectional(LSTM(U, return_sequences=True), merge_mode=None).compute_mask(None, mask) == [mask, mask]
    assert Bidirectional(GRU(U, return_sequences=True, return_state=True)).compute_mask(None, mask) == \
        [mask, None, None]


def test_text_classifier_trains_and_round_trips(tmp_path):
    ids = rng.integers(1, 9, (32, 6))
    ids[::3, 4:] = 0  # padding
    labels = (ids[:, 0] > 4).astype(np.float32)[:, None]
    inputs = Input(shape=(6,))
    vectors = nnkit.layers.Embedding(9, 4, mask_zero=True)(inputs)
    encoded = Bidirectional(LSTM(5))(vectors)
    model = Model(inputs, Dense(1, activation="sigmoid")(encoded))
    model.compile("adam", "binary_crossentropy")
    history = model.fit(ids.astype(np.float32), labels, epochs=10, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    predicted = model.predict(ids.astype(np.float32), verbose=0)
    model.save(tmp_path / "text.nnkit")
    loaded = model_io.load_model(tmp_path / "text.nnkit")
    np.testing.assert_array_equal(loaded.predict(ids.astype(np.float32), verbose=0), predicted)
    assert loaded.count_params() == model.count_params() == 9 * 4 + 2 * 4 * 5 * (4 + 5 + 1) + 11


@pytest.mark.parametrize("make, error, match", [
    (lambda: Bidirectional(Dense(2)), TypeError, "layer must be a recurrent layer"),
    (lambda: Bidirectional(LSTM(2), merge_mode="max"), ValueError, "merge_mode must be one of"),
    (lambda: Bidirectional(LSTM(2), backward_layer=LSTM(2)), ValueError, "different go_backwards"),
    (lambda: Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True)), ValueError,
     "the same return_sequences"),
    (lambda: Bidirectional(LSTM(2, go_backwards=True)), ValueError, "different go_backwards"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_sequential_summary_counts_as_keras():
    model = Sequential([Input(shape=(5, 3)), LSTM(4, return_sequences=True), Bidirectional(GRU(2)), Dense(1)])
    assert [layer.count_params() for layer in model.layers] == [128, 96, 5]  # Keras 3's summary for this model


def test_stateful_bidirectional_in_a_model_fits_and_predicts_with_its_batch_size():
    model = Sequential([Input(shape=(T, F), batch_size=2), Bidirectional(LSTM(3, stateful=True)), Dense(1)])
    model.compile("sgd", "mse")
    x, y = rng.standard_normal((6, T, F)).astype(np.float32), rng.standard_normal((6, 1)).astype(np.float32)
    model.fit(x, y, batch_size=2, shuffle=False, epochs=1, verbose=0)
    layer = model.layers[0]
    layer.reset_states()
    predicted = model.predict(x, batch_size=2, verbose=0)
    layer.reset_states()
    by_hand = np.concatenate([model(x[i:i + 2]).data for i in range(0, 6, 2)])  # the states carry on
    np.testing.assert_allclose(predicted, by_hand, rtol=1e-6)
    with pytest.raises(ValueError, match="stateful: the batch size must stay"):
        model.predict(x[:3], batch_size=3, verbose=0)
