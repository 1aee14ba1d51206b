"""Fused optimizer updates: Cython against the NumPy reference (sizes on both
sides of the parallel threshold, both dtypes, AMSGrad, NaN), the reference
against Keras' Adam formulas, layouts the kernel cannot take, and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit._ext import threads
from nnkit.backend.cython import optim as cy
from nnkit.backend.reference import optim as ref

BACKENDS = [pytest.param(ref, id="reference"), pytest.param(cy, id="cython")]


def state(rng, shape, dtype, amsgrad):
    w, g, m = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    v = rng.random(shape).astype(dtype)
    vhat = rng.random(shape).astype(dtype) if amsgrad else None
    return w, g, m, v, vhat


def copies(arrays):
    return [None if a is None else a.copy() for a in arrays]


# name -> (update, its state arrays after w and g (None: absent), its scalars); ``flags`` switch the options
UPDATES = {
    "adam": lambda f: ("adam_update", ("m", "v", "vhat" if f[0] else None), (0.01, 0.9, 0.999, 1e-7)),
    "rmsprop": lambda f: ("rmsprop_update", ("v", "avg" if f[0] else None, "mom" if f[1] else None),
                          (0.01, 0.9, 0.5 if f[1] else 0.0, 1e-7)),
    "adagrad": lambda f: ("adagrad_update", ("acc",), (0.01, 1e-7)),
    "sgd": lambda f: ("sgd_update", ("velocity" if f[0] else None,), (0.01, 0.9 if f[0] else 0.0, f[1])),
}


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 5) | st.sampled_from([70_000, 131_073]), dtype=st.sampled_from([np.float32, np.float64]),
       update=st.sampled_from(sorted(UPDATES)), flags=st.tuples(st.booleans(), st.booleans()),
       nthreads=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**32 - 1), nan=st.booleans())
def test_cython_matches_reference(size, dtype, update, flags, nthreads, seed, nan):
    name, slots, scalars = UPDATES[update](flags)
    rng = np.random.default_rng(seed)
    # w, g and the moments: second moments (v, acc, vhat) non-negative, as the optimizers keep them
    arrays = [rng.standard_normal(size).astype(dtype) for _ in range(2)]
    arrays += [None if s is None else (rng.random(size) if s in ("v", "acc", "vhat")
                                       else rng.standard_normal(size) * 0.1).astype(dtype) for s in slots]
    if nan and size:
        for a in arrays[1:]:
            if a is not None:
                a[rng.integers(0, size)] = np.nan
    expected, got = copies(arrays), copies(arrays)
    with np.errstate(invalid="ignore"):
        getattr(ref, name)(*expected, *scalars)
    old = threads.get_num_threads()
    threads.set_num_threads(nthreads)
    try:
        getattr(cy, name)(*got, *scalars)
    finally:
        threads.set_num_threads(old)
    for label, e, a in zip(("w", "g") + slots, expected, got):
        if e is not None:  # the same operations in the same order and precision (bitwise in the portable build)
            np.testing.assert_allclose(a, e, rtol=2 * np.finfo(dtype).eps, atol=0, equal_nan=True, err_msg=label)


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_formula(be, amsgrad):
    """Keras 3's Adam, written out in float64."""
    w, g, m, v, vhat = state(np.random.default_rng(0), (3, 4), np.float64, amsgrad)
    m2 = m + 0.1 * (g - m)
    v2 = v + 0.001 * (g * g - v)
    denom = np.sqrt(np.maximum(vhat, v2) if amsgrad else v2) + 1e-7
    w2 = w - 0.01 * m2 / denom
    be.adam_update(w, g, m, v, vhat, 0.01, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(m, m2, rtol=1e-15)
    np.testing.assert_allclose(v, v2, rtol=1e-15)
    np.testing.assert_allclose(w, w2, rtol=1e-15)
    if amsgrad:
        np.testing.assert_array_equal(vhat, np.maximum(vhat, v2))


@pytest.mark.parametrize("be", BACKENDS)
def test_rmsprop_and_adagrad_formulas(be):
    """Keras 3's RMSprop (centred, with momentum) and Adagrad, written out in float64."""
    rng = np.random.default_rng(2)
    w, g, avg, mom = (rng.standard_normal(5) for _ in range(4))
    v = rng.random(5) + 1
    v2 = 0.9 * v + 0.1 * g * g
    avg2 = 0.9 * avg + 0.1 * g
    mom2 = 0.5 * mom + 0.01 * g / np.sqrt(v2 - avg2 * avg2 + 1e-7)
    expected_w = w - mom2
    be.rmsprop_update(w, g, v, avg, mom, 0.01, 0.9, 0.5, 1e-7)
    for got, want in ((v, v2), (avg, avg2), (mom, mom2), (w, expected_w)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    acc = rng.random(5)
    w2, acc2 = w - 0.01 * g / np.sqrt(acc + g * g + 1e-7), acc + g * g
    be.adagrad_update(w, g, acc, 0.01, 1e-7)
    np.testing.assert_allclose(acc, acc2, rtol=1e-15)
    np.testing.assert_allclose(w, w2, rtol=1e-14)


def test_layouts_the_kernel_cannot_update_in_place_take_the_reference_path():
    rng = np.random.default_rng(1)
    w, g, m, v, _ = state(rng, (6, 5), np.float32, False)
    expected = copies([w, g, m, v])
    ref.adam_update(*expected, None, 0.01, 0.9, 0.999, 1e-7)
    wf, mf, vf = (np.asfortranarray(a) for a in (w, m, v))
    cy.adam_update(wf, g[:, ::-1][:, ::-1], mf, vf, None, 0.01, 0.9, 0.999, 1e-7)
    for e, a in zip((expected[0], expected[2], expected[3]), (wf, mf, vf)):
        np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("be", BACKENDS)
def test_bad_input(be):
    w = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"adam_update: expected m to have shape \(3,\), got \(4,\)"):
        be.adam_update(w, w.copy(), np.zeros(4, np.float32), w.copy(), None, 0.1, 0.9, 0.99, 1e-7)
    with pytest.raises(TypeError, match="adam_update: all inputs must share one dtype"):
        be.adam_update(w, w.copy(), w.copy(), np.zeros(3), None, 0.1, 0.9, 0.99, 1e-7)
    with pytest.raises(TypeError, match="adam_update: expected g to be a float32 or float64 numpy.ndarray"):
        be.adam_update(w, [0.0, 0.0, 0.0], w.copy(), w.copy(), None, 0.1, 0.9, 0.99, 1e-7)
