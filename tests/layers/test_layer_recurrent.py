"""SimpleRNN, LSTM and GRU against Keras 3's semantics, written out as float64 NumPy loops over time here:
weights and defaults, masks (state carried, previous output repeated or zeros), go_backwards, initial and
returned states, stateful carry-over (and training across batches against the unrolled computation),
dropout masks, gradients through time, bad input, configs and save/load."""
import numpy as np
import pytest
from layer_helper import check_layer, gradient_check

import nnkit
from nnkit import Input, Model, Sequential, Tensor
from nnkit.io import model_io
from nnkit.layers import GRU, LSTM, Dense, Embedding, SimpleRNN

rng = np.random.default_rng(11)
B, T, F, U = 3, 5, 2, 4


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def per_gate(rec_mask, gates, h):
    """``h`` times each gate's recurrent dropout mask (one array of gates * units columns, or 1)."""
    return [h * m for m in (np.split(rec_mask, gates, axis=1) if np.ndim(rec_mask) else [rec_mask] * gates)]


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "linear": lambda z: z,
               "relu": lambda z: np.maximum(z, 0), "hard_sigmoid": lambda z: np.clip(z / 6 + 0.5, 0, 1)}


def lstm_step(kernel, recurrent, bias, act=np.tanh, ract=sigmoid):
    def step(x, states, rec_mask):
        h, c = states
        u = h.shape[1]
        z = x @ kernel + (0 if bias is None else bias) + np.concatenate(
            [hg @ recurrent[:, g * u:(g + 1) * u] for g, hg in enumerate(per_gate(rec_mask, 4, h))], axis=1)
        i, f, g, o = np.split(z, 4, axis=1)
        c = ract(f) * c + ract(i) * act(g)
        return [ract(o) * act(c), c]
    return step


def gru_step(kernel, recurrent, bias, reset_after, act=np.tanh, ract=sigmoid):
    def step(x, states, rec_mask):
        (h,) = states
        u = h.shape[1]
        hz, hr, hh = [hg @ recurrent[:, g * u:(g + 1) * u] for g, hg in enumerate(per_gate(rec_mask, 3, h))]
        if reset_after:
            bx, bh = (0, 0) if bias is None else (bias[0], bias[1])
            xz, xr, xh = np.split(x @ kernel + bx, 3, axis=1)
            bz, br, bhh = np.split(np.broadcast_to(bh, (3 * u,)), 3)
            z, r = ract(xz + hz + bz), ract(xr + hr + br)
            candidate = act(xh + r * (hh + bhh))
        else:
            xz, xr, xh = np.split(x @ kernel + (0 if bias is None else bias), 3, axis=1)
            z, r = ract(xz + hz), ract(xr + hr)
            candidate = act(xh + (r * per_gate(rec_mask, 3, h)[2]) @ recurrent[:, 2 * u:])
        return [z * h + (1 - z) * candidate]
    return step


def simple_step(kernel, recurrent, bias, act=np.tanh):
    def step(x, states, rec_mask):
        return [act(x @ kernel + (states[0] * rec_mask) @ recurrent + (0 if bias is None else bias))]
    return step


def run(step, x, states, mask=None, go_backwards=False, zero_output=False, rec_mask=1.0):
    """Keras's loop: a masked step keeps the states and outputs the previous h (or zeros)."""
    outputs = []
    for t in (range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])):
        new = step(x[:, t], states, rec_mask)
        out = new[0]
        if mask is not None:
            keep = mask[:, t, None]
            out = np.where(keep, out, 0.0 if zero_output else states[0])
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
        states = new
        outputs.append(out)
    return np.stack(outputs, axis=1), states


def reference(layer, x, states=None, mask=None, rec_mask=1.0):
    """The float64 NumPy result of ``layer`` (built) on ``x``: (outputs in processing order, final states)."""
    w = [a.astype(np.float64) for a in layer.get_weights()]
    kernel, recurrent, bias = w[0], w[1], (w[2] if layer.use_bias else None)
    config = layer.get_config()
    act, ract = ACTIVATIONS[config["activation"]], ACTIVATIONS[config.get("recurrent_activation", "sigmoid")]
    if isinstance(layer, LSTM):
        step, count = lstm_step(kernel, recurrent, bias, act, ract), 2
    elif isinstance(layer, GRU):
        step, count = gru_step(kernel, recurrent, bias, layer.reset_after, act, ract), 1
    else:
        step, count = simple_step(kernel, recurrent, bias, act), 1
    states = [np.zeros((x.shape[0], layer.units))] * count if states is None else states
    return run(step, x, states, mask, layer.go_backwards, layer.zero_output_for_mask, rec_mask)


def padded_mask():
    mask = np.ones((B, T), bool)
    mask[0, 3:] = False  # right padding
    mask[1, :2] = False  # left padding
    mask[2, 2] = False  # a hole
    return mask


KINDS = [(SimpleRNN, {}, 1), (LSTM, {}, 2), (GRU, {}, 1), (GRU, dict(reset_after=False), 1)]
KIND_IDS = ["SimpleRNN", "LSTM", "GRU", "GRU-reset-before"]


# -- the Layer contract and the weights ------------------------------------------------------------
@pytest.mark.parametrize("cls, extra, gates, params", [
    (SimpleRNN, {}, 1, 3 * 4 + 3 * 3 + 3), (LSTM, {}, 4, 4 * 3 * (4 + 3 + 1)),
    (GRU, {}, 3, 3 * 3 * (4 + 3 + 2)), (GRU, dict(reset_after=False), 3, 3 * 3 * (4 + 3 + 1))])
def test_layer_contract_weights_and_parameter_counts(cls, extra, gates, params):
    layer = check_layer(cls, dict(units=3, **extra), (5, 4), expected_shape=(None, 3), expected_params=params)
    cell = {SimpleRNN: "simple_rnn_cell", LSTM: "lstm_cell", GRU: "gru_cell"}[cls]
    assert [w.name for w in layer.weights] == [f"{layer.name}/{cell}/{n}" for n in ("kernel", "recurrent_kernel",
                                                                                   "bias")]
    bias_shape = (2, 9) if cls is GRU and extra.get("reset_after", True) else (gates * 3,)
    assert [w.shape for w in layer.weights] == [(4, gates * 3), (3, gates * 3), bias_shape]
    check_layer(cls, dict(units=3, return_sequences=True, go_backwards=True, use_bias=False, **extra), (5, 4),
                expected_shape=(None, 5, 3))


def test_default_initializers_as_keras():
    layer = LSTM(3)
    layer(np.zeros((1, 2, 4), np.float32))
    recurrent = layer.recurrent_kernel.data.astype(np.float64)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)  # orthogonal rows
    assert all(w.data.flags.c_contiguous for w in layer.weights)  # a wide orthogonal draw is a transpose
    np.testing.assert_array_equal(layer.bias.data, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])  # unit_forget_bias
    limit = np.sqrt(6 / (4 + 12))
    assert np.abs(layer.kernel.data).max() <= limit  # glorot_uniform over (4, 12)
    plain = LSTM(3, unit_forget_bias=False, bias_initializer="ones")
    plain(np.zeros((1, 2, 4), np.float32))
    np.testing.assert_array_equal(plain.bias.data, np.ones(12))
    shifted = LSTM(2, bias_initializer="ones")
    shifted(np.zeros((1, 2, 1), np.float32))
    np.testing.assert_array_equal(shifted.bias.data, np.ones(8))  # forget gate: ones + the initializer's ones


# -- values against the float64 loops ----------------------------------------------------------------
@pytest.mark.parametrize("cls, extra, count", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("initial", [False, True])
def test_outputs_and_states_match_the_float64_loop(cls, extra, count, go_backwards, masked, initial):
    x = rng.standard_normal((B, T, F))
    states = [rng.standard_normal((B, U)) for _ in range(count)] if initial else None
    mask = padded_mask() if masked else None
    layer = cls(U, return_sequences=True, return_state=True, go_backwards=go_backwards, dtype="float64", **extra)
    got = layer(Tensor(x), initial_state=None if states is None else [Tensor(s) for s in states], mask=mask)
    outputs, final = reference(layer, x, states, mask)
    assert len(got) == 1 + count
    np.testing.assert_allclose(got[0].data, outputs, rtol=1e-10, atol=1e-12)
    for have, want in zip(got[1:], final):
        np.testing.assert_allclose(have.data, want, rtol=1e-10, atol=1e-12)
    last = cls.from_config({**layer.get_config(), "return_sequences": False, "return_state": False})
    last(Tensor(x))
    last.set_weights(layer.get_weights())
    np.testing.assert_allclose(last(Tensor(x), mask=mask, initial_state=None if states is None else
                                    [Tensor(s) for s in states]).data, outputs[:, -1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, extra, count", KINDS, ids=KIND_IDS)
def test_zero_output_for_mask_and_fully_masked_samples(cls, extra, count):
    x = rng.standard_normal((B, T, F))
    mask = padded_mask()
    mask[2] = False  # a sample with no real step keeps its initial state
    layer = cls(U, return_sequences=True, return_state=True, zero_output_for_mask=True, dtype="float64", **extra)
    got = layer(Tensor(x), mask=mask)
    outputs, final = reference(layer, x, None, mask)
    np.testing.assert_allclose(got[0].data, outputs, rtol=1e-10, atol=1e-12)
    assert np.all(got[0].data[~mask] == 0)
    np.testing.assert_array_equal(got[1].data[2], np.zeros(U))


def test_mask_may_be_a_tensor_or_numbers():
    x = rng.standard_normal((B, T, F))
    layer = GRU(U, dtype="float64")
    want = layer(Tensor(x), mask=padded_mask()).data
    np.testing.assert_array_equal(layer(Tensor(x), mask=Tensor(padded_mask().astype(np.float32))).data, want)
    np.testing.assert_array_equal(layer(Tensor(x), mask=padded_mask().astype(int).tolist()).data, want)


def test_embedding_mask_zero_feeds_the_lstm_mask():
    ids = np.array([[3, 1, 0, 0], [2, 2, 2, 1]])
    embedding, lstm = Embedding(5, F, mask_zero=True, dtype="float64"), LSTM(U, dtype="float64")
    vectors = embedding(ids)
    got = lstm(vectors, mask=embedding.compute_mask(ids)).data
    np.testing.assert_allclose(got, reference(lstm, vectors.data, None, ids != 0)[1][0], rtol=1e-10)
    np.testing.assert_allclose(got[0], lstm(vectors[:1, :2]).data[0], rtol=1e-10)  # padding changes nothing


# -- masks and shapes as the functional API sees them ------------------------------------------------
def test_compute_mask_and_output_shapes():
    mask = padded_mask()
    assert LSTM(U).compute_mask(None, mask) is None
    assert LSTM(U, return_sequences=True).compute_mask(None, mask) is mask
    assert LSTM(U, return_sequences=True, return_state=True).compute_mask(None, [mask, None, None]) == \
        [mask, None, None]
    assert GRU(U, return_state=True).compute_mask(None, mask) == [None, None]
    assert LSTM(U, return_sequences=True, return_state=True).compute_output_shape((None, T, F)) == \
        [(None, T, U), (None, U), (None, U)]
    assert SimpleRNN(U).compute_output_shape((7, None, F)) == (7, U)
    x = Input(shape=(None, F))
    assert GRU(U, return_sequences=True)(x).shape == (None, None, U)


def test_symbolic_initial_state_in_a_functional_model():
    x, h, c = Input(shape=(T, F)), Input(shape=(U,)), Input(shape=(U,))
    out, h_t, c_t = LSTM(U, return_state=True, return_sequences=True)(x, initial_state=[h, c])
    model = Model([x, h, c], [out, h_t, c_t])
    data = [rng.standard_normal(s).astype(np.float32) for s in ((B, T, F), (B, U), (B, U))]
    got = model(data)
    layer = model.layers[-1]
    outputs, final = reference(layer, data[0].astype(np.float64), [d.astype(np.float64) for d in data[1:]])
    for have, want in zip(got, [outputs] + final):
        np.testing.assert_allclose(have.data, want, rtol=1e-4, atol=1e-5)


# -- gradients through time ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls, extra, count", KINDS, ids=KIND_IDS)
def test_gradients_through_time_with_a_mask_and_initial_states(cls, extra, count):
    layer = cls(3, return_sequences=True, go_backwards=True, dtype="float64", **extra)
    mask = padded_mask()[:2, :4]

    def call(layer, inputs):
        return layer(inputs, mask=mask, training=False)
    gradient_check(layer, [(4, 2)] + [(3,)] * count, call)  # inputs, initial states and weights


@pytest.mark.parametrize("cls, extra, count", KINDS, ids=KIND_IDS)
def test_stateful_carry_over_gradients_and_equivalence_to_one_long_sequence(cls, extra, count):
    x = rng.standard_normal((2, 6, F))
    whole = cls(3, return_sequences=True, return_state=True, dtype="float64", **extra)
    expected = whole(Tensor(x))
    stateful = cls(3, return_sequences=True, stateful=True, dtype="float64", **extra)
    stateful(Tensor(x[:, :3]))
    stateful.set_weights(whole.get_weights())
    stateful.reset_states()
    first, second = stateful(Tensor(x[:, :3])).data, None
    carried = [s.data.copy() for s in stateful.states]
    second = stateful(Tensor(x[:, 3:])).data
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), expected[0].data, rtol=1e-10)
    for have, want in zip(stateful.states, expected[1:]):
        np.testing.assert_allclose(have.data, want.data, rtol=1e-10)

    def call(layer, inputs):  # every evaluation starts from the carried states (a constant, as in Keras)
        layer._states = [s.copy() for s in carried]
        return layer(inputs, training=False)
    gradient_check(stateful, (3, F), call)
    stateful.reset_state()
    assert all(np.all(s.data == 0) for s in stateful.states)


def test_stateful_lstm_trained_across_batches_matches_the_unrolled_computation():
    """Two SGD steps on consecutive chunks of the same sequences: the second starts from the states the first
    one ended in (computed with the weights before its update), with no gradient flowing back into them."""
    x = rng.standard_normal((2 * B, 4, F)).astype(np.float64)
    y = rng.standard_normal((2 * B, 4, 1)).astype(np.float64)
    model = Sequential([Input(shape=(4, F), batch_size=B, dtype="float64"),
                        LSTM(U, stateful=True, return_sequences=True, dtype="float64"), Dense(1, dtype="float64")])
    model.compile(nnkit.optimizers.SGD(learning_rate=0.1), "mse")
    lstm, dense = model.layers
    start = model.get_weights()
    model.fit(x, y, batch_size=B, shuffle=False, epochs=1, verbose=0)  # batch 2 continues batch 1, sample by sample

    twin_lstm = LSTM(U, return_sequences=True, return_state=True, dtype="float64")
    twin_dense = Dense(1, dtype="float64")
    twin_dense(twin_lstm(Tensor(x[:B]))[0])
    twin_lstm.set_weights(start[:3])
    twin_dense.set_weights(start[3:])
    states = None
    for chunk in (slice(0, B), slice(B, 2 * B)):
        out, h, c = twin_lstm(Tensor(x[chunk]), initial_state=states)
        loss = ((twin_dense(out) - Tensor(y[chunk])) ** 2).mean()
        loss.backward()
        for w in twin_lstm.weights + twin_dense.weights:
            w.data -= 0.1 * w.grad
            w.grad = None
        states = [Tensor(h.data), Tensor(c.data)]  # carried over, detached
    for have, want in zip(model.get_weights(), twin_lstm.get_weights() + twin_dense.get_weights()):
        np.testing.assert_allclose(have, want, rtol=1e-9, atol=1e-12)
    for have, want in zip(lstm.states, states):
        np.testing.assert_allclose(have.data, want.data, rtol=1e-10)


# -- dropout ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, extra, count", KINDS, ids=KIND_IDS)
def test_dropout_draws_one_input_and_one_recurrent_mask_per_call_only_while_training(cls, extra, count):
    x = rng.standard_normal((B, T, F))
    layer = cls(U, dropout=0.4, recurrent_dropout=0.3, seed=5, return_sequences=True, dtype="float64", **extra)
    plain = layer(Tensor(x)).data  # inference: no dropout
    np.testing.assert_allclose(plain, reference(layer, x)[0], rtol=1e-10)
    draws = np.random.default_rng(5)
    input_mask = (draws.random((B, F)) < 0.6) / 0.6
    gates = {SimpleRNN: 1, LSTM: 4, GRU: 3}[cls]
    recurrent_mask = (draws.random((B, gates * U)) < 0.7) / 0.7  # one mask per gate
    trained = layer(Tensor(x), training=True).data
    want = reference(layer, x * input_mask[:, None, :], rec_mask=recurrent_mask)[0]
    np.testing.assert_allclose(trained, want, rtol=1e-10, atol=1e-12)
    assert not np.allclose(layer(Tensor(x), training=True).data, trained)  # a new draw per call


# -- arguments, regularizers, config ---------------------------------------------------------------------
def test_regularizers_constraints_and_activity_regularizer():
    layer = LSTM(U, kernel_regularizer=nnkit.regularizers.L2(0.1), recurrent_regularizer="l1",
                 bias_regularizer=nnkit.regularizers.L2(0.5), activity_regularizer=nnkit.regularizers.L2(0.01),
                 kernel_constraint=nnkit.constraints.MaxNorm(1.0), dtype="float64")
    out = layer(Tensor(rng.standard_normal((B, T, F))))
    kernel, recurrent, bias = (w.data for w in layer.weights)
    penalties = [float(p.data) for p in layer.losses]
    np.testing.assert_allclose(penalties[:3], [0.1 * (kernel ** 2).sum(), 0.01 * np.abs(recurrent).sum(),
                                               0.5 * (bias ** 2).sum()], rtol=1e-10)
    np.testing.assert_allclose(penalties[3], 0.01 * (out.data ** 2).sum() / B, rtol=1e-10)
    config = layer.get_config()
    again = LSTM.from_config(config)
    assert again.get_config() == config
    assert config["kernel_constraint"] is not None and config["recurrent_constraint"] is None


def test_config_round_trips_every_argument():
    layer = GRU(5, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
                kernel_initializer="he_normal", recurrent_initializer="glorot_normal", bias_initializer="ones",
                dropout=0.25, recurrent_dropout=0.5, seed=3, return_sequences=True, return_state=True,
                go_backwards=True, stateful=True, unroll=True, reset_after=False, name="g", dtype="float64")
    config = layer.get_config()
    assert {k: config[k] for k in ("units", "activation", "recurrent_activation", "use_bias", "dropout",
                                   "recurrent_dropout", "seed", "return_sequences", "return_state", "go_backwards",
                                   "stateful", "unroll", "reset_after", "name", "dtype")} == dict(
        units=5, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False, dropout=0.25,
        recurrent_dropout=0.5, seed=3, return_sequences=True, return_state=True, go_backwards=True, stateful=True,
        unroll=True, reset_after=False, name="g", dtype="float64")
    assert GRU.from_config(config).get_config() == config
    assert LSTM(2, use_cudnn=False, implementation=1).units == 2  # Keras arguments that change nothing here


@pytest.mark.parametrize("cls, extra, count", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("activation, recurrent_activation", [("relu", "hard_sigmoid"), ("linear", "tanh")])
def test_other_activations_follow_the_formula(cls, extra, count, activation, recurrent_activation):
    if cls is not SimpleRNN:
        extra = {**extra, "recurrent_activation": recurrent_activation}
    layer = cls(U, activation=activation, return_sequences=True, dtype="float64", **extra)
    x = rng.standard_normal((B, T, F))
    np.testing.assert_allclose(layer(Tensor(x), mask=padded_mask()).data, reference(layer, x, None, padded_mask())[0],
                               rtol=1e-10, atol=1e-12)


# -- models and files --------------------------------------------------------------------------------------
def test_fit_predict_and_save_load_round_trip(tmp_path):
    x = rng.standard_normal((24, T, F)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)[:, None]
    model = Sequential([Input(shape=(T, F)), LSTM(6, return_sequences=True), GRU(4, return_sequences=True),
                        SimpleRNN(3, go_backwards=True), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(predicted, model(x).data, rtol=1e-6)
    model.save(tmp_path / "rnn.nnkit")
    loaded = model_io.load_model(tmp_path / "rnn.nnkit")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), predicted)
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    assert loaded.count_params() == model.count_params() == 4 * 6 * (2 + 6 + 1) + 3 * 4 * (6 + 4 + 2) + \
        3 * (4 + 3 + 1) + 4


def test_stateful_model_save_load_keeps_the_configuration(tmp_path):
    model = Sequential([Input(shape=(T, F), batch_size=2), GRU(U, stateful=True), Dense(1)])
    x = rng.standard_normal((2, T, F)).astype(np.float32)
    first = model(x).data
    assert not np.allclose(model(x).data, first)  # the states moved on
    model.layers[0].reset_states()
    np.testing.assert_array_equal(model(x).data, first)
    model.save(tmp_path / "s.nnkit")
    loaded = model_io.load_model(tmp_path / "s.nnkit")
    assert loaded.layers[0].stateful
    np.testing.assert_array_equal(loaded(x).data, first)


# -- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, call, match", [
    (lambda: LSTM(U), lambda l: l(np.zeros((B, F), np.float32)),
     r"LSTM 'lstm': expected a 3-D input \(batch, steps, features\)"),
    (lambda: GRU(U), lambda l: l(Input(shape=(T, F, 1))), r"GRU 'gru': expected a 3-D input"),
    (lambda: SimpleRNN(U), lambda l: (l(np.zeros((B, T, F), np.float32)), l(np.zeros((B, T, F + 1), np.float32))),
     rf"SimpleRNN 'simple_rnn': expected {F} features \(as built\)"),
    (lambda: LSTM(U), lambda l: l(np.zeros((B, T, F), np.float32), mask=np.ones((B, T + 1), bool)),
     rf"LSTM 'lstm': mask must have shape \(batch, steps\) = \({B}, {T}\), got \({B}, {T + 1}\)"),
    (lambda: LSTM(U), lambda l: l(np.zeros((B, T, F), np.float32), initial_state=[np.zeros((B, U), np.float32)]),
     r"LSTM 'lstm': initial_state must be 2 tensor\(s\) \[h, c\], got 1"),
    (lambda: GRU(U), lambda l: l(np.zeros((B, T, F), np.float32), initial_state=[np.zeros((B, U + 1), np.float32)]),
     rf"GRU 'gru': initial state h must have shape \(batch, units\) = \({B}, {U}\), got \({B}, {U + 1}\)"),
    (lambda: LSTM(U, stateful=True), lambda l: l(Input(shape=(T, F))),
     r"LSTM 'lstm': stateful=True needs a fixed batch size"),
    (lambda: LSTM(U, stateful=True), lambda l: (l(np.zeros((B, T, F), np.float32)),
                                                l(np.zeros((B + 1, T, F), np.float32))),
     rf"LSTM 'lstm': stateful: the batch size must stay the one the states were made for \({B}\), got {B + 1}"),
])
def test_bad_input_names_the_layer(make, call, match):
    with pytest.raises(ValueError, match=match):
        call(make())


@pytest.mark.parametrize("kwargs, match", [
    (dict(units=0), r"expected units to be a positive integer below 2\*\*62, got 0"),
    (dict(units=4, dropout=1.0), r"dropout must be a number in \[0, 1\), got 1.0"),
    (dict(units=4, recurrent_dropout=-0.1), r"recurrent_dropout must be a number in \[0, 1\)"),
    (dict(units=4, activation="nope"), "activation: unknown activation 'nope'"),
    (dict(units=4, recurrent_activation="gelu"), "LSTM 'lstm': recurrent_activation must be one of linear, relu, "
                                                 "sigmoid, tanh, hard_sigmoid"),
    (dict(units=4, use_cudnn="yes"), "use_cudnn must be 'auto', True or False"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTM(**kwargs)


def test_mask_of_text_is_refused():
    with pytest.raises(TypeError, match="LSTM 'lstm': mask must be boolean"):
        LSTM(U)(np.zeros((1, 2, F), np.float32), mask=np.array([["a", "b"]]))


@pytest.mark.skipif(not hasattr(nnkit.tensor, "get_keras_mask"), reason="needs Keras mask propagation (masking branch)")
def test_a_model_reads_the_embedding_mask_so_padding_changes_nothing():
    inputs = Input(shape=(None,))
    vectors = Embedding(9, 3, mask_zero=True, dtype="float64")(inputs)
    encoded = nnkit.layers.Bidirectional(LSTM(3, return_sequences=True, dtype="float64"))(vectors)
    model = Model(inputs, Dense(1, dtype="float64")(GRU(2, dtype="float64")(encoded)))
    ids = np.array([[4, 2, 7, 0, 0]], np.float64)
    np.testing.assert_allclose(model.predict(ids, verbose=0), model.predict(ids[:, :3], verbose=0), rtol=1e-12)
    assert not np.allclose(model.predict(ids[:, :2], verbose=0), model.predict(ids[:, :3], verbose=0))
