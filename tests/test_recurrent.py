"""The recurrent functional ops (nnkit.functional.simple_rnn / lstm / gru): what they return, both backends
through autograd, inference without saved activations, edge sizes.  The kernels' own tests (gradients
through time, Keras semantics, Cython against the reference) are in tests/backend/test_rnn.py."""
import numpy as np
import pytest

import nnkit
from nnkit import Tensor, functional as F, no_grad

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}


def inputs(op, b=3, t=5, f=4, u=6, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    g = GATES[op]
    arrays = [rng.standard_normal((b, t, f))] + [rng.standard_normal((b, u)) for _ in range(STATES[op])]
    arrays += [rng.standard_normal((f, g * u)) * 0.3, rng.standard_normal((u, g * u)) * 0.3,
               rng.standard_normal((2, 3 * u) if op == "gru" else (g * u,)) * 0.3]
    return [a.astype(dtype) for a in arrays]


@pytest.mark.parametrize("op", list(GATES))
def test_returns_outputs_and_final_states(op):
    arrays = inputs(op)
    out = getattr(F, op)(*[Tensor(a) for a in arrays])
    assert len(out) == 1 + STATES[op]
    assert out[0].shape == (3, 5, 6) and out[0].dtype == np.float32
    for s in out[1:]:
        assert s.shape == (3, 6) and s.dtype == np.float32
    np.testing.assert_array_equal(out[1].numpy(), out[0].numpy()[:, -1])  # unmasked: h_T is the last output


@pytest.mark.parametrize("op", list(GATES))
def test_backends_agree_through_autograd(op):
    arrays = inputs(op, dtype=np.float64, seed=1)
    mask = np.random.default_rng(2).random((3, 5)) > 0.3
    results = {}
    for backend in ("cython", "numpy"):
        nnkit.set_backend(backend)
        try:
            tensors = [Tensor(a, requires_grad=True) for a in arrays]
            out = getattr(F, op)(*tensors, mask=mask, go_backwards=True)
            loss = sum((o * o).sum() for o in out)
            loss.backward()
            results[backend] = [o.numpy() for o in out] + [t.grad for t in tensors]
        finally:
            nnkit.set_backend("cython")
    for got, expected in zip(results["cython"], results["numpy"]):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_inference_saves_nothing_and_matches_training():
    arrays = inputs("lstm")
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    trained = F.lstm(*tensors)
    assert trained[0].requires_grad and trained[0]._ctx.parents[0]._ctx.saved is not None
    with no_grad():
        inferred = F.lstm(*tensors)
    assert not inferred[0].requires_grad
    for a, b in zip(trained, inferred):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_masks_may_be_tensors_and_arrays_may_be_plain():
    arrays = inputs("gru")
    mask = np.ones((3, 5), bool)
    mask[:, -1] = False
    out_t, h_t = F.gru(*arrays, mask=Tensor(mask), recurrent_dropout_mask=Tensor(np.full((3, 6), 2, np.float32)))
    out_a, h_a = F.gru(*arrays, mask=mask, recurrent_dropout_mask=np.full((3, 6), 2, np.float32))
    np.testing.assert_array_equal(out_t.numpy(), out_a.numpy())
    np.testing.assert_array_equal(h_t.numpy(), out_t.numpy()[:, -2])  # the masked last step carried h over


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("b,t", [(0, 4), (3, 0), (0, 0)])
def test_empty_batch_or_sequence(backend, b, t):
    """No steps: the outputs are empty and the final states are the initial ones (their gradient flows
    straight through); no rows: everything is empty."""
    nnkit.set_backend(backend)
    try:
        arrays = inputs("lstm", b=b, t=t, dtype=np.float64)
        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        out, h, c = F.lstm(*tensors)
        assert out.shape == (b, t, 6)
        np.testing.assert_array_equal(h.numpy(), arrays[1])
        (h.sum() + 2 * c.sum()).backward()
        np.testing.assert_array_equal(tensors[1].grad, np.ones((b, 6)))
        np.testing.assert_array_equal(tensors[2].grad, np.full((b, 6), 2.0))
        for t_, a in zip(tensors[3:], arrays[3:]):
            np.testing.assert_array_equal(t_.grad, np.zeros_like(a))
    finally:
        nnkit.set_backend("cython")


def test_unknown_activation_names_the_op():
    with pytest.raises(ValueError, match="simple_rnn: expected activation to be one of .*got 'swish'"):
        F.simple_rnn(*inputs("simple_rnn"), activation="swish")
    with pytest.raises(ValueError, match="gru: expected recurrent_activation to be one of .*got 'gelu'"):
        F.gru(*inputs("gru"), recurrent_activation="gelu")
