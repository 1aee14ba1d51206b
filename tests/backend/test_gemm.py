"""The OpenMP-blocked GEMM against the NumPy reference, and its bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnkit
from nnkit.backend.cython import gemm as cy
from nnkit.backend.reference import gemm as ref


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(0, 40), trans_a=st.booleans(),
       trans_b=st.booleans(), accumulate=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       threads=st.sampled_from([1, 2, 3]), strided=st.booleans(), seed=st.integers(0, 2**16))
def test_matches_reference(m, n, k, trans_a, trans_b, accumulate, dtype, threads, strided, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    if strided:  # non-contiguous operands are copied, never misread
        a = np.repeat(a, 2, axis=1)[:, ::2]
        b = np.asfortranarray(b)
    out = rng.standard_normal((m, n)).astype(dtype) if accumulate else None
    expected = ref.matmul(a, b, trans_a, trans_b, None if out is None else out.copy())
    before = nnkit.get_num_threads()
    nnkit.set_num_threads(threads)
    try:
        from nnkit._ext import gemm as ext
        got = np.zeros((m, n), dtype) if out is None else out.copy()
        ext.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), got, trans_a, trans_b, accumulate, threads)
        wrapped = cy.matmul(a, b, trans_a, trans_b, None if out is None else out.copy())
    finally:
        nnkit.set_num_threads(before)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(wrapped, expected, rtol=tol, atol=tol)


def test_large_product_uses_every_thread_block():
    rng = np.random.default_rng(0)
    for m, n in [(257, 64), (3, 513)]:  # row blocks, then column blocks
        a, b = rng.standard_normal((m, 300)), rng.standard_normal((300, n))
        np.testing.assert_allclose(cy.matmul(a, b), a @ b, rtol=1e-12)


@pytest.mark.parametrize("impl", [cy, ref])
def test_bad_input(impl):
    f32 = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: op\(a\) is \(3, 4\) and op\(b\) is \(3, 4\)"):
        impl.matmul(f32, f32)
    with pytest.raises(TypeError, match="matmul: all inputs must share one dtype"):
        impl.matmul(f32, np.zeros((4, 2)))
    with pytest.raises(TypeError, match="matmul: expected a to be float32 or float64, got int64"):
        impl.matmul(np.zeros((3, 4), np.int64), f32.T)
    with pytest.raises(ValueError, match="matmul: expected a to have 2 dimensions"):
        impl.matmul(np.zeros(4, np.float32), f32.T)
    with pytest.raises(ValueError, match=r"matmul: expected out to have shape \(3, 3\), got \(3, 4\)"):
        impl.matmul(f32, f32.T.copy(), out=np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="matmul: expected out to be a numpy.ndarray, got list"):
        impl.matmul(f32, f32.T.copy(), out=[0.0])


@settings(max_examples=40, deadline=None)
@given(g=st.integers(0, 6), m=st.integers(1, 30), n=st.integers(1, 30), k=st.integers(0, 20),
       trans_a=st.booleans(), trans_b=st.booleans(), accumulate=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), threads=st.sampled_from([1, 2, 3]),
       strided=st.booleans(), seed=st.integers(0, 2**16))
def test_batched_matches_reference(g, m, n, k, trans_a, trans_b, accumulate, dtype, threads, strided, seed):
    """Both ways of sharing: whole products per thread (g >= threads) and each product cut over the team."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((g, k, m) if trans_a else (g, m, k)).astype(dtype)
    b = rng.standard_normal((g, n, k) if trans_b else (g, k, n)).astype(dtype)
    if strided:
        a = np.repeat(a, 2, axis=2)[:, :, ::2]
        b = np.swapaxes(np.swapaxes(b, 1, 2).copy(), 1, 2)
    out = rng.standard_normal((g, m, n)).astype(dtype) if accumulate else None
    expected = ref.batched_matmul(a, b, trans_a, trans_b, None if out is None else out.copy())
    before = nnkit.get_num_threads()
    nnkit.set_num_threads(threads)
    try:
        from nnkit._ext import gemm as ext
        got = np.zeros((g, m, n), dtype) if out is None else out.copy()
        ext.batched_matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), got, trans_a, trans_b, accumulate,
                           threads)
        wrapped = cy.batched_matmul(a, b, trans_a, trans_b, None if out is None else out.copy())
    finally:
        nnkit.set_num_threads(before)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(wrapped, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("impl", [cy, ref])
def test_batched_bad_input(impl):
    f32 = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"batched_matmul: inner dimensions differ: op\(a\[g\]\) is \(3, 4\) and "
                                         r"op\(b\[g\]\) is \(3, 4\)"):
        impl.batched_matmul(f32, f32)
    with pytest.raises(ValueError, match="batched_matmul: a and b must hold as many matrices, got 2 and 3"):
        impl.batched_matmul(f32, np.zeros((3, 4, 3), np.float32))
    with pytest.raises(TypeError, match="batched_matmul: all inputs must share one dtype"):
        impl.batched_matmul(f32, np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match="batched_matmul: expected a to have 3 dimensions"):
        impl.batched_matmul(np.zeros((3, 4), np.float32), f32)
    with pytest.raises(ValueError, match=r"batched_matmul: expected out to have shape \(2, 3, 3\), got \(2, 3, 4\)"):
        impl.batched_matmul(f32, np.zeros((2, 4, 3), np.float32), out=np.zeros((2, 3, 4), np.float32))
