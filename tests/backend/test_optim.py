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
    "nadam": lambda f: ("nadam_update", ("m", "v"), (0.9, 0.999, 0.52, 0.11, 0.01, 0.002, 1e-7)),
    "adamax": lambda f: ("adamax_update", ("m", "u"), (0.01, 0.9, 0.999, 0.1, 1e-7)),
    "adadelta": lambda f: ("adadelta_update", ("acc_grad", "acc_delta"), (1.0, 0.95, 1e-7)),
    "lion": lambda f: ("lion_update", ("m",), (0.01, 0.9, 0.99)),
    "ftrl": lambda f: ("ftrl_update", ("acc", "linear"),
                       (0.01, 0.5, 0.01 if f[0] else 0.0, 0.001, 0.01 if f[1] else 0.0)),
}
NON_NEGATIVE = ("v", "acc", "vhat", "u", "acc_grad", "acc_delta")  # second moments, as the optimizers keep them


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 5) | st.sampled_from([70_000, 131_073]), dtype=st.sampled_from([np.float32, np.float64]),
       update=st.sampled_from(sorted(UPDATES)), flags=st.tuples(st.booleans(), st.booleans()),
       nthreads=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**32 - 1), nan=st.booleans())
def test_cython_matches_reference(size, dtype, update, flags, nthreads, seed, nan):
    name, slots, scalars = UPDATES[update](flags)
    rng = np.random.default_rng(seed)
    # w, g and the moments: second moments (v, acc, vhat) non-negative, as the optimizers keep them
    arrays = [rng.standard_normal(size).astype(dtype) for _ in range(2)]
    arrays += [None if s is None else (rng.random(size) if s in NON_NEGATIVE
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
    with pytest.raises(TypeError, match="adam_update: expected g to be a numpy.ndarray, got list"):
        be.adam_update(w, [0.0, 0.0, 0.0], w.copy(), w.copy(), None, 0.1, 0.9, 0.99, 1e-7)


@pytest.mark.parametrize("be", BACKENDS)
def test_nadam_adamax_adadelta_lion_formulas(be):
    """Keras 3's update rules, written out in float64 as Keras writes them."""
    rng = np.random.default_rng(3)
    w, g, m = (rng.standard_normal(6) for _ in range(3))
    v = rng.random(6)
    m2, v2 = m + (g - m) * 0.1, v + (g * g - v) * 0.001
    m_hat = 0.52 * m2 + 0.11 * g
    w2 = w - m_hat * 0.01 / (np.sqrt(v2 / 0.002) + 1e-7)
    be.nadam_update(w, g, m, v, 0.9, 0.999, 0.52, 0.11, 0.01, 0.002, 1e-7)
    for got, want in ((m, m2), (v, v2), (w, w2)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    u = rng.random(6)
    m2, u2 = m + (g - m) * 0.1, np.maximum(0.999 * u, np.abs(g))
    w2 = w - 0.01 * m2 / (0.1 * (u2 + 1e-7))
    be.adamax_update(w, g, m, u, 0.01, 0.9, 0.999, 0.1, 1e-7)
    for got, want in ((m, m2), (u, u2), (w, w2)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    ag, ad = rng.random(6), rng.random(6)
    ag2 = 0.95 * ag + 0.05 * g ** 2
    delta = -np.sqrt(ad + 1e-7) * g / np.sqrt(ag2 + 1e-7)
    ad2, w2 = 0.95 * ad + 0.05 * delta ** 2, w + 0.5 * delta
    be.adadelta_update(w, g, ag, ad, 0.5, 0.95, 1e-7)
    for got, want in ((ag, ag2), (ad, ad2), (w, w2)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    w2, m2 = w - 0.01 * np.sign(m * 0.9 + g * 0.1), m * 0.99 + g * 0.01
    be.lion_update(w, g, m, 0.01, 0.9, 0.99)
    np.testing.assert_allclose(w, w2, rtol=1e-15)
    np.testing.assert_allclose(m, m2, rtol=1e-15)


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("power", [0.5, 0.7, 0.0])
def test_ftrl_formula(be, power):
    """Keras 3's FTRL step (its ``learning_rate_power`` is ``-power``), in float64."""
    rng = np.random.default_rng(4)
    w, g, linear = (rng.standard_normal(8) for _ in range(3))
    acc = rng.random(8) + 0.1
    lr, l1, l2, shrink = 0.05, 0.3, 0.02, 0.01
    new = acc + g ** 2
    lin2 = linear + (g + 2 * shrink * w) - (new ** power - acc ** power) / lr * w
    quadratic = new ** power / lr + 2 * l2
    w2 = (np.clip(lin2, -l1, l1) - lin2) / quadratic
    be.ftrl_update(w, g, acc, linear, lr, power, l1, l2, shrink)
    for got, want in ((linear, lin2), (w, w2), (acc, new)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ftrl_general_power_matches_reference_closely(dtype):
    """pow() is libm's in both (NumPy may vectorise it): equal to a few ulp, not necessarily to the bit."""
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(1000).astype(dtype) for _ in range(2)] + \
        [(rng.random(1000) + 0.1).astype(dtype), rng.standard_normal(1000).astype(dtype)]
    expected, got = copies(arrays), copies(arrays)
    ref.ftrl_update(*expected, 0.05, 0.7, 0.1, 0.01, 0.0)
    cy.ftrl_update(*got, 0.05, 0.7, 0.1, 0.01, 0.0)
    for e, a in zip(expected, got):
        np.testing.assert_allclose(a, e, rtol=50 * np.finfo(dtype).eps, atol=50 * np.finfo(dtype).eps)


@pytest.mark.parametrize("be", BACKENDS)
def test_new_updates_bad_input(be):
    w = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"lion_update: expected m to have shape \(3,\), got \(2,\)"):
        be.lion_update(w, w.copy(), np.zeros(2, np.float32), 0.1, 0.9, 0.99)
    with pytest.raises(TypeError, match="ftrl_update: all inputs must share one dtype"):
        be.ftrl_update(w, w.copy(), w.copy(), np.zeros(3), 0.1, 0.5, 0.0, 0.0, 0.0)
    with pytest.raises(TypeError, match="adadelta_update: expected acc_grad to be a numpy.ndarray, got list"):
        be.adadelta_update(w, w.copy(), [0.0] * 3, w.copy(), 1.0, 0.95, 1e-7)
