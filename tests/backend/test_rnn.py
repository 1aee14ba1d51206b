"""Recurrent kernels (SimpleRNN, LSTM, GRU): the reference against hand-unrolled float64 formulas, gradients
through time by central differences (masks, go_backwards, recurrent dropout, initial states), Cython against
the reference, and every validation rule."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import check_grad
import nnkit
from nnkit import Tensor, functional as F, ops
from nnkit.backend.cython import rnn as cy
from nnkit.backend.reference import rnn as ref

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def weights(rng, op, f, u, reset_after=True, dtype=np.float64, scale=0.5):
    g = GATES[op]
    kernel = rng.standard_normal((f, g * u)) * scale
    rk = rng.standard_normal((u, g * u)) * scale
    bias = rng.standard_normal((2, 3 * u) if op == "gru" and reset_after else (g * u,)) * scale
    return [a.astype(dtype) for a in (kernel, rk, bias)]


def run(backend, op, x, states, kernel, rk, bias, training=True, **kw):
    return getattr(backend, f"{op}_forward")(x, *states, kernel, rk, bias, training=training, **kw)


# ----------------------------------------------------------------------------- the reference, unrolled by hand

def test_lstm_reference_matches_unrolled_formula():
    rng = np.random.default_rng(0)
    b, t, f, u = 2, 3, 4, 3
    x = rng.standard_normal((b, t, f))
    h, c = rng.standard_normal((b, u)), rng.standard_normal((b, u))
    kernel, rk, bias = weights(rng, "lstm", f, u)
    y, _ = ref.lstm_forward(x, h, c, kernel, rk, bias)
    for s in range(t):
        z = x[:, s] @ kernel + h @ rk + bias
        i, fg, g, o = sigmoid(z[:, :u]), sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), sigmoid(z[:, 3 * u:])
        c = fg * c + i * g
        h = o * np.tanh(c)
        np.testing.assert_allclose(y[:, s], h, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(y[:, t], h, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(y[:, t + 1], c, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_reference_matches_unrolled_formula(reset_after):
    rng = np.random.default_rng(1)
    b, t, f, u = 2, 3, 2, 4
    x = rng.standard_normal((b, t, f))
    h = rng.standard_normal((b, u))
    kernel, rk, bias = weights(rng, "gru", f, u, reset_after)
    m = (rng.random((b, 3 * u)) > 0.3) / 0.7  # one recurrent dropout mask per gate
    y, _ = ref.gru_forward(x, h, kernel, rk, bias, reset_after=reset_after, go_backwards=True,
                           recurrent_dropout_mask=m)
    W, R = np.split(kernel, 3, axis=1), np.split(rk, 3, axis=1)
    M = np.split(m, 3, axis=1)
    bi, br = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * u))
    bi, br = np.split(bi, 3), np.split(br, 3)
    for k, s in enumerate(reversed(range(t))):  # go_backwards: last step first, outputs in that order
        xs = x[:, s]
        z = sigmoid(xs @ W[0] + bi[0] + (h * M[0]) @ R[0] + br[0])
        r = sigmoid(xs @ W[1] + bi[1] + (h * M[1]) @ R[1] + br[1])
        if reset_after:
            hh = np.tanh(xs @ W[2] + bi[2] + r * ((h * M[2]) @ R[2] + br[2]))
        else:
            hh = np.tanh(xs @ W[2] + bi[2] + (r * h * M[2]) @ R[2])
        h = z * h + (1 - z) * hh  # the undropped h, as Keras 3's GRUCell
        np.testing.assert_allclose(y[:, k], h, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(y[:, t], h, rtol=1e-13, atol=1e-14)


def test_simple_rnn_reference_masks_as_keras():
    """A masked step carries the state (its output is the carried h, the initial state for leading masked
    steps); with zero_output_for_mask it outputs zeros; the final state is the last unmasked step's."""
    rng = np.random.default_rng(2)
    b, t, f, u = 3, 5, 2, 3
    x = rng.standard_normal((b, t, f))
    h0 = rng.standard_normal((b, u))
    kernel, rk, bias = weights(rng, "simple_rnn", f, u)
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], bool)
    for zero in (False, True):
        y, _ = ref.simple_rnn_forward(x, h0, kernel, rk, bias, mask=mask, activation="relu",
                                      zero_output_for_mask=zero)
        h = h0
        for s in range(t):
            new = np.maximum(x[:, s] @ kernel + h @ rk + bias, 0)
            keep = mask[:, s:s + 1]
            h = np.where(keep, new, h)
            np.testing.assert_allclose(y[:, s], np.where(keep, new, 0) if zero else h, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(y[:, t], h, rtol=1e-13, atol=1e-14)
        np.testing.assert_array_equal(y[2, t], h0[2])  # a fully masked row keeps its initial state


def test_hard_sigmoid_is_keras3s():
    z = np.array([-4.0, -3.0, -1.5, 0.0, 2.0, 3.0, 5.0])
    code = ref.ACTIVATIONS.index("hard_sigmoid")
    np.testing.assert_allclose(ref.activate(code, z), np.clip(z / 6 + 0.5, 0, 1))


# ----------------------------------------------------------------------------- gradients through time

def call(op, x, states, kernel, rk, bias, **kw):
    """The functional op's outputs and final states, joined into one (B, T + S, U) Tensor."""
    fn = getattr(F, op)
    out = fn(x, *states, kernel, rk, bias, **kw)
    b, u = out[0].shape[0], out[0].shape[2]
    return ops.concatenate([out[0]] + [ops.reshape(s, (b, 1, u)) for s in out[1:]], axis=1)


GRAD_CASES = [
    dict(),
    dict(go_backwards=True),
    dict(mask="mixed"),
    dict(mask="mixed", go_backwards=True, zero_output_for_mask=True),
    dict(mask="mixed", zero_output_for_mask=True),
    dict(dropout="per_gate"),
    dict(dropout="shared", mask="mixed", go_backwards=True),
    dict(activation="relu", recurrent_activation="hard_sigmoid", mask="mixed"),
]


def mixed_mask(b, t):
    """Rows: leading masked steps, trailing masked steps, fully masked, a hole, unmasked."""
    mask = np.ones((b, t), bool)
    mask[0, :2] = False
    mask[1, -2:] = False
    mask[2] = False
    mask[3, t // 2] = False
    return mask


@pytest.mark.parametrize("op,reset_after", [("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)])
@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_gradients_through_time(op, reset_after, case):
    rng = np.random.default_rng(3)
    b, t, f, u = 5, 4, 3, 3
    kw = dict(case)
    if op == "simple_rnn":
        kw.pop("recurrent_activation", None)
    if op == "gru":
        kw["reset_after"] = reset_after
    if kw.get("mask") == "mixed":
        kw["mask"] = mixed_mask(b, t)
    dropout = kw.pop("dropout", None)
    if dropout:
        width = u if dropout == "shared" else GATES[op] * u
        kw["recurrent_dropout_mask"] = (rng.random((b, width)) > 0.4) / 0.6
    x = rng.standard_normal((b, t, f))
    states = [rng.standard_normal((b, u)) * 0.5 for _ in range(STATES[op])]
    kernel, rk, bias = weights(rng, op, f, u, reset_after)
    n = STATES[op]

    def fn(x, *rest):
        return call(op, x, rest[:n], *rest[n:], **kw)

    check_grad(fn, x, *states, kernel, rk, bias, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("op", ["simple_rnn", "lstm", "gru"])
def test_gradients_without_bias(op):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 2))
    states = [rng.standard_normal((2, 3)) for _ in range(STATES[op])]
    kernel, rk, _ = weights(rng, op, 2, 3)
    n = STATES[op]
    check_grad(lambda x, *rest: call(op, x, rest[:n], *rest[n:], None), x, *states, kernel, rk)


def test_only_used_outputs_carry_gradient():
    """Gradient through the final state alone (the outputs unused) reaches every input."""
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    kernel, rk, bias = (Tensor(a, requires_grad=True) for a in weights(rng, "lstm", 2, 3))
    h0 = c0 = Tensor(np.zeros((2, 3)))
    _, _, c = F.lstm(x, h0, c0, kernel, rk, bias)
    c.sum().backward()
    assert all(np.abs(a.grad).sum() > 0 for a in (x, kernel, rk, bias))


# ----------------------------------------------------------------------------- Cython == reference

def non_contiguous(a):
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


@st.composite
def rnn_cases(draw):
    op = draw(st.sampled_from(["simple_rnn", "lstm", "gru"]))
    b, t = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    f, u = draw(st.integers(1, 5)), draw(st.integers(1, 11))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    reset_after = draw(st.booleans())
    kw = dict(go_backwards=draw(st.booleans()), zero_output_for_mask=draw(st.booleans()),
              activation=draw(st.sampled_from(ref.ACTIVATIONS)))
    if op != "simple_rnn":
        kw["recurrent_activation"] = draw(st.sampled_from(["sigmoid", "hard_sigmoid", "tanh"]))  # bounded gates
    if op == "gru":
        kw["reset_after"] = reset_after
    if draw(st.booleans()):
        kw["mask"] = rng.random((b, t)) > 0.3
    dropout = draw(st.sampled_from([None, "shared", "per_gate"]))
    if dropout:
        width = u if dropout == "shared" else GATES[op] * u
        kw["recurrent_dropout_mask"] = ((rng.random((b, width)) > 0.4) / 0.6).astype(dtype)
    x = rng.standard_normal((b, t, f)).astype(dtype)
    if draw(st.booleans()):
        x = non_contiguous(x)
    states = [rng.standard_normal((b, u)).astype(dtype) for _ in range(STATES[op])]
    kernel, rk, bias = weights(rng, op, f, u, reset_after, dtype, scale=1 / np.sqrt(f + u))  # no blow-up
    if draw(st.booleans()):
        bias = None
    dy = rng.standard_normal((b, t + STATES[op], u)).astype(dtype)
    threads = draw(st.sampled_from([None, 2, 3]))  # None: as the thread policy decides (one thread here)
    return op, x, states, kernel, rk, bias, kw, dy, threads


@settings(max_examples=150, deadline=None)
@given(rnn_cases())
def test_cython_matches_reference(case):
    op, x, states, kernel, rk, bias, kw, dy, threads = case
    if threads is None:
        check_cython_against_reference(op, x, states, kernel, rk, bias, kw, dy)
        return
    before = cy._MIN_PARALLEL_MACS, cy._MIN_ROWS_PER_THREAD
    cy._MIN_PARALLEL_MACS, cy._MIN_ROWS_PER_THREAD = 0, 1  # every size runs on a team of threads
    old_threads = nnkit.get_num_threads()
    try:
        nnkit.set_num_threads(threads)
        check_cython_against_reference(op, x, states, kernel, rk, bias, kw, dy)
    finally:
        cy._MIN_PARALLEL_MACS, cy._MIN_ROWS_PER_THREAD = before
        nnkit.set_num_threads(old_threads)


def check_cython_against_reference(op, x, states, kernel, rk, bias, kw, dy):
    eps = np.finfo(x.dtype).eps

    def close(got, expected):  # a few hundred ulps of the array's largest value
        np.testing.assert_allclose(got, expected, rtol=512 * eps, atol=512 * eps * max(1, np.abs(expected).max()))
    y_ref, saved_ref = run(ref, op, x, states, kernel, rk, bias, **kw)
    y_cy, saved_cy = run(cy, op, x, states, kernel, rk, bias, **kw)
    assert y_cy.dtype == x.dtype and y_cy.shape == y_ref.shape
    close(y_cy, y_ref)
    y_inf, saved_inf = run(cy, op, x, states, kernel, rk, bias, training=False, **kw)
    assert saved_inf is None
    close(y_inf, y_ref)
    grads_ref = getattr(ref, f"{op}_backward")(dy, saved_ref)
    grads_cy = getattr(cy, f"{op}_backward")(dy, saved_cy)
    for got, expected in zip(grads_cy, grads_ref):
        if expected is None:
            assert got is None
            continue
        assert got.dtype == x.dtype and got.shape == expected.shape
        close(got, expected)


# ----------------------------------------------------------------------------- bad input

def good_args(op="lstm", dtype=np.float64):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 4)).astype(dtype)
    states = [np.zeros((2, 5), dtype) for _ in range(STATES[op])]
    return x, states, *weights(rng, op, 4, 5, dtype=dtype)


@pytest.mark.parametrize("backend", [ref, cy], ids=["reference", "cython"])
@pytest.mark.parametrize("change,error,words", [
    (dict(x=np.zeros((2, 3))), ValueError, ["lstm", "x", "3 dimensions", "(2, 3)"]),
    (dict(h0=np.zeros((2, 4))), ValueError, ["lstm", "h0", "(2, 5)", "(2, 4)"]),
    (dict(c0=np.zeros((3, 5))), ValueError, ["lstm", "c0", "(2, 5)", "(3, 5)"]),
    (dict(kernel=np.zeros((3, 20))), ValueError, ["lstm", "kernel", "(4, 20)", "(3, 20)"]),
    (dict(rk=np.zeros((5, 15))), ValueError, ["lstm", "recurrent_kernel", "(5, 20)", "(5, 15)"]),
    (dict(bias=np.zeros(15)), ValueError, ["lstm", "bias", "(20,)", "(15,)"]),
    (dict(mask=np.ones((2, 4), bool)), ValueError, ["lstm", "mask", "(2, 3)", "(2, 4)"]),
    (dict(mask=np.ones((2, 3))), TypeError, ["lstm", "mask", "bool", "float64"]),
    (dict(mask=[[True] * 3] * 2), TypeError, ["lstm", "mask", "numpy.ndarray", "list"]),
    (dict(recurrent_dropout_mask=np.ones((2, 7))), ValueError, ["lstm", "recurrent_dropout_mask", "(2, 5)",
                                                                "(2, 20)", "(2, 7)"]),
    (dict(activation="gelu"), ValueError, ["lstm", "activation", "tanh", "'gelu'"]),
    (dict(recurrent_activation="softmax"), ValueError, ["lstm", "recurrent_activation", "'softmax'"]),
    (dict(kernel=np.zeros((4, 20), np.float32)), TypeError, ["lstm", "one dtype", "float32", "float64"]),
    (dict(x=np.zeros((2, 3, 4), np.int64)), TypeError, ["lstm", "x", "float32 or float64", "int64"]),
])
def test_bad_input(backend, change, error, words):
    x, (h0, c0), kernel, rk, bias = good_args()
    args = dict(x=x, h0=h0, c0=c0, kernel=kernel, rk=rk, bias=bias)
    kw = {}
    for k, v in change.items():
        (args if k in args else kw)[k] = v
    with pytest.raises(error) as info:
        backend.lstm_forward(args["x"], args["h0"], args["c0"], args["kernel"], args["rk"], args["bias"], **kw)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


@pytest.mark.parametrize("backend", [ref, cy], ids=["reference", "cython"])
def test_bad_gru_bias_and_backward_input(backend):
    x, (h0,), kernel, rk, _ = good_args("gru")
    with pytest.raises(ValueError, match=r"gru: expected bias to have shape \(2, 15\), got \(15,\)"):
        backend.gru_forward(x, h0, kernel, rk, np.zeros(15))
    with pytest.raises(ValueError, match=r"gru: expected bias to have shape \(15,\), got \(2, 15\)"):
        backend.gru_forward(x, h0, kernel, rk, np.zeros((2, 15)), reset_after=False)
    y, saved = backend.gru_forward(x, h0, kernel, rk, None)
    with pytest.raises(ValueError, match=r"gru: expected dy to have shape \(2, 4, 5\), got \(2, 3, 5\)"):
        backend.gru_backward(np.zeros((2, 3, 5)), saved)
    with pytest.raises(TypeError, match="gru: expected dy of the forward's dtype float64, got float32"):
        backend.gru_backward(np.zeros(y.shape, np.float32), saved)
    _, nothing = backend.gru_forward(x, h0, kernel, rk, None, training=False)
    with pytest.raises(ValueError, match="gru: the forward ran with training=False"):
        backend.gru_backward(np.zeros(y.shape), nothing)


def test_functional_rejects_mixed_dtypes():
    x, (h0,), kernel, rk, bias = good_args("simple_rnn")
    with pytest.raises(TypeError, match="float32"):
        F.simple_rnn(Tensor(x), Tensor(h0), Tensor(kernel.astype(np.float32)), Tensor(rk), Tensor(bias))
