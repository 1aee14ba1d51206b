"""GEMMs whose sizes or leading dimensions pass BLAS's 32-bit int are cut into calls that fit.

Real sizes of 2**31 need tens of GiB, so each kernel module's cut-off is lowered
for these tests (``_set_blas_int_max``) and small products cross it on every
axis: m, n, k and each leading dimension, through matmul, every conv
algorithm and Winograd.  The results must equal the reference's.
"""
import contextlib
import itertools

import numpy as np
import pytest

from nnkit._ext import conv as conv_ext
from nnkit._ext import gemm as gemm_ext
from nnkit._ext import winograd as winograd_ext
from nnkit.backend.cython import conv as cy_conv
from nnkit.backend.cython import gemm as cy_gemm
from nnkit.backend.reference import conv as ref_conv

from test_conv import ALGORITHMS, assert_close, cython_settings


@contextlib.contextmanager
def blas_int_max(limit):
    modules = (gemm_ext, conv_ext, winograd_ext)
    previous = [m._set_blas_int_max(limit) for m in modules]
    try:
        yield
    finally:
        for m, p in zip(modules, previous):
            m._set_blas_int_max(p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("limit", [1, 3, 7])
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n,k", [(1, 1, 17), (9, 2, 5), (2, 11, 8), (13, 6, 10), (4, 5, 0)])
def test_matmul_cut_at_the_blas_int_limit(dtype, limit, trans_a, trans_b, m, n, k):
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    expected = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    out = rng.standard_normal((m, n)).astype(dtype)
    with blas_int_max(limit):
        got = cy_gemm.matmul(a, b, trans_a, trans_b)
        accumulated = cy_gemm.matmul(a, b, trans_a, trans_b, out=out.copy())
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * 10)
    np.testing.assert_allclose(accumulated, expected + out, rtol=rtol, atol=rtol * 10)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS) + [cy_conv.WINOGRAD])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv_cut_at_the_blas_int_limit(algorithm, nthreads):
    rng = np.random.default_rng(0)
    if algorithm == cy_conv.WINOGRAD:
        x_shape, w_shape, groups, padding = (2, 6, 5, 16), (3, 3, 16, 16), 1, ((1, 1), (1, 1))
    elif algorithm == "depthwise":
        x_shape, w_shape, groups, padding = (2, 6, 5, 4), (3, 3, 1, 8), 4, ((1, 1), (1, 1))
    elif algorithm == "pointwise":
        x_shape, w_shape, groups, padding = (2, 6, 5, 6), (1, 1, 3, 4), 2, ((0, 0), (0, 0))
    else:
        x_shape, w_shape, groups, padding = (2, 6, 5, 3), (3, 2, 3, 5), 1, ((1, 0), (0, 1))
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[3])
    args = ((1, 1), padding, (1, 1), groups)
    y_ref = ref_conv.conv2d_forward(x, w, b, *args)
    dy = rng.standard_normal(y_ref.shape)
    grads_ref = ref_conv.conv2d_backward(dy, x, w, *args)
    forced = cy_conv.WINOGRAD if algorithm == cy_conv.WINOGRAD else ALGORITHMS[algorithm]
    with blas_int_max(3), cython_settings(nthreads=nthreads, workspace=1, algorithm=forced):
        y = cy_conv.conv2d_forward(x, w, b, *args)
        grads = cy_conv.conv2d_backward(dy, x, w, *args)
    assert_close(y, y_ref, np.float64, "y")
    for name, got, expected in zip(("dx", "dw", "db"), grads, grads_ref):
        assert_close(got, expected, np.float64, name)


def test_limit_is_clamped_to_a_valid_int():
    with blas_int_max(0):  # clamped to 1: still correct, one element per call
        a = np.arange(6.0).reshape(2, 3)
        np.testing.assert_array_equal(cy_gemm.matmul(a, a, trans_b=True), a @ a.T)
    assert gemm_ext._set_blas_int_max(2**40) == 2**31 - 1  # restore path: never above INT_MAX
    gemm_ext._set_blas_int_max(2**31 - 1)


@pytest.mark.slow
def test_a_real_product_over_more_than_2_to_the_31_terms():
    """(1, K) @ (K, 1) with K > INT_MAX at full size: once narrowed to int (a wrong sum or BLAS's "illegal value").

    Zeros from calloc are never written except at the four places set here, so the 2 x 8 GiB operands are read
    through the kernel's shared zero page: no memory to speak of, a few seconds of arithmetic."""
    k = 2**31 + 2
    try:
        x, w = np.zeros((1, k), np.float32), np.zeros((k, 1), np.float32)
    except MemoryError:
        pytest.skip("the system refuses 16 GiB of (untouched) address space")
    for i, at in enumerate([0, 2**31 - 1, 2**31, 2**31 + 1]):
        x[0, at], w[at, 0] = i + 1, 0.5 * (i + 1)
    np.testing.assert_array_equal(cy_gemm.matmul(x, w), [[0.5 * (1 + 4 + 9 + 16)]])
