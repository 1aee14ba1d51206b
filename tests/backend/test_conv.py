"""conv2d_forward / conv2d_backward / im2col / col2im, both backends.

The reference is checked against a naive loop and a dense layer; the Cython
kernels against the reference over drawn geometries (every algorithm, thread
count, workspace chunking and input layout); both backward passes against
central differences; bad input against each validation rule.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nnkit._ext import conv as kernels
from nnkit._ext import threads
from nnkit.backend.cython import conv as cy
from nnkit.backend.reference import conv as ref

BACKENDS = [pytest.param(ref, id="numpy"), pytest.param(cy, id="cython")]
ALGORITHMS = {"im2col": kernels.IM2COL, "im2col_t": kernels.IM2COL_T, "pointwise": kernels.POINTWISE,
              "direct": kernels.DIRECT,
              "depthwise": kernels.DEPTHWISE}


def assert_close(got, expected, dtype, what=""):
    assert got.dtype == expected.dtype == dtype, what
    assert got.flags.c_contiguous, what
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def out_size(size, k, s, pads, d):
    return (size + sum(pads) - (k - 1) * d - 1) // s + 1


@contextlib.contextmanager
def cython_settings(nthreads=None, workspace=None, algorithm=None):
    """Thread count, workspace limit and a forced algorithm for the Cython backend, restored after.

    Inside, even tiny problems use every thread (``_MIN_PARALLEL_FLOP = 0``),
    so the parallel paths are exercised on test-sized inputs.
    """
    old_threads, old_limit, old_algorithm = threads.get_num_threads(), cy.get_workspace_limit(), cy._algorithm
    old_min_flop = cy._MIN_PARALLEL_FLOP
    try:
        cy._MIN_PARALLEL_FLOP = 0
        if nthreads is not None:
            threads.set_num_threads(nthreads)
        if workspace is not None:
            cy.set_workspace_limit(workspace)
        if algorithm is not None:
            cy._algorithm = lambda *args: algorithm
        yield
    finally:
        threads.set_num_threads(old_threads)
        cy.set_workspace_limit(old_limit)
        cy._algorithm = old_algorithm
        cy._MIN_PARALLEL_FLOP = old_min_flop


def relayout(a, kind):
    """The same values in a non-C-contiguous array (or a C-contiguous one for ``"c"``)."""
    if kind == "strided":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    if kind == "fortran":
        return np.asfortranarray(a)
    return a


def naive_conv2d(x, w, b, strides, padding, dilation, groups):
    """Direct seven-deep loop, float64: the oracle for the oracle."""
    n, h, wd, c = x.shape
    kh, kw, cg, f = w.shape
    fg = f // groups
    oh = out_size(h, kh, strides[0], padding[0], dilation[0])
    ow = out_size(wd, kw, strides[1], padding[1], dilation[1])
    y = np.zeros((n, oh, ow, f))
    for i in range(n):
        for p in range(oh):
            for q in range(ow):
                for o in range(f):
                    g = o // fg
                    acc = 0.0 if b is None else float(b[o])
                    for u in range(kh):
                        for v in range(kw):
                            r = p * strides[0] - padding[0][0] + u * dilation[0]
                            s = q * strides[1] - padding[1][0] + v * dilation[1]
                            if 0 <= r < h and 0 <= s < wd:
                                acc += float(np.dot(x[i, r, s, g * cg:(g + 1) * cg], w[u, v, :, o]))
                    y[i, p, q, o] = acc
    return y


# ----------------------------------------------------------------------------- drawn geometries

@st.composite
def conv_cases(draw, allow_groups=True):
    kind = draw(st.sampled_from(["plain", "grouped", "depthwise", "pointwise"] if allow_groups
                                else ["plain", "pointwise"]))
    if kind == "grouped":
        groups = draw(st.integers(2, 3))
        c, f = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    elif kind == "depthwise":  # 16 channels and more use the blocked depthwise loops
        c = groups = draw(st.integers(1, 6) | st.sampled_from([16, 19, 35]))
        f = c * draw(st.integers(1, 2))
    else:
        groups, c, f = 1, draw(st.integers(1, 7)), draw(st.integers(1, 5))
    if kind == "pointwise":
        kh = kw = 1
        strides, dilation, padding = (1, 1), (1, 1), ((0, 0), (0, 0))
    else:
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    assume(out_size(h, kh, strides[0], padding[0], dilation[0]) > 0)
    assume(out_size(w, kw, strides[1], padding[1], dilation[1]) > 0)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((kh, kw, c // groups, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if draw(st.booleans()) else None
    return dict(x=x, w=wt, b=b, geom=(strides, padding, dilation, groups), dtype=dtype, rng=rng)


@settings(max_examples=40, deadline=None)
@given(case=conv_cases(), layout=st.sampled_from(["c", "strided", "fortran"]),
       nthreads=st.sampled_from([1, 2, 3]), workspace=st.sampled_from([None, 1, 3000]),
       need=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_cython_matches_reference(case, layout, nthreads, workspace, need):
    x, w, b, geom, dtype = case["x"], case["w"], case["b"], case["geom"], case["dtype"]
    y_ref = ref.conv2d_forward(x, w, b, *geom)
    dy = case["rng"].standard_normal(y_ref.shape).astype(dtype)
    expected = ref.conv2d_backward(dy, x, w, *geom, *need)
    with cython_settings(nthreads, workspace):
        y = cy.conv2d_forward(relayout(x, layout), relayout(w, layout), b, *geom)
        got = cy.conv2d_backward(relayout(dy, layout), relayout(x, layout), relayout(w, layout), *geom, *need)
    assert_close(y, y_ref, dtype, "y")
    for name, g, e in zip(("dx", "dw", "db"), got, expected):
        assert (g is None) == (e is None), name
        if e is not None:
            assert_close(g, e, dtype, name)


@settings(max_examples=30, deadline=None)
@given(case=conv_cases(), algorithm=st.sampled_from(sorted(ALGORITHMS)), nthreads=st.sampled_from([1, 2]),
       workspace=st.sampled_from([None, 1]))
def test_every_algorithm_matches_reference(case, algorithm, nthreads, workspace):
    """Force each Cython algorithm onto every geometry it can serve, not only where it is picked."""
    x, w, b, geom, dtype = case["x"], case["w"], case["b"], case["geom"], case["dtype"]
    strides, padding, dilation, groups = geom
    if algorithm == "im2col_t":
        assume(groups == 1)
    if algorithm == "pointwise":
        assume(w.shape[:2] == (1, 1) and strides == (1, 1) and padding == ((0, 0), (0, 0)))
    if algorithm == "depthwise":
        assume(groups == x.shape[3])
    if algorithm == "direct":  # forward only; its backward pass runs im2col
        assume(strides == (1, 1) and dilation == (1, 1) and groups == 1)
    y_ref = ref.conv2d_forward(x, w, b, *geom)
    dy = case["rng"].standard_normal(y_ref.shape).astype(dtype)
    expected = ref.conv2d_backward(dy, x, w, *geom)
    with cython_settings(nthreads, workspace, ALGORITHMS[algorithm]):
        y = cy.conv2d_forward(x, w, b, *geom)
        got = cy.conv2d_backward(dy, x, w, *geom)
    assert_close(y, y_ref, dtype, "y")
    for name, g, e in zip(("dx", "dw", "db"), got, expected):
        assert_close(g, e, dtype, name)


@st.composite
def direct_cases(draw):
    """Stride-1 convolutions for the direct forward: both of its kernels (F a multiple of 8: over filters,
    8 or 16 at a time; other F: over pixels, 16 at a time, filters in blocks of 8/4/2/1), rows shorter and
    longer than a block, every padding up to the kernel's size, rows entirely in the padding."""
    c = draw(st.integers(1, 8))
    f = draw(st.integers(1, 20) | st.sampled_from([8, 16, 24, 32, 48]))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    padding = ((draw(st.integers(0, kh)), draw(st.integers(0, kh))), (draw(st.integers(0, kw)), draw(st.integers(0, kw))))
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 40))
    assume(out_size(h, kh, 1, padding[0], 1) > 0 and out_size(w, kw, 1, padding[1], 1) > 0)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if draw(st.booleans()) else None
    return dict(x=x, w=wt, b=b, geom=((1, 1), padding, (1, 1), 1), dtype=dtype, rng=rng)


@settings(max_examples=60, deadline=None)
@given(case=direct_cases(), layout=st.sampled_from(["c", "strided"]), nthreads=st.sampled_from([1, 2, 3]))
def test_direct_forward_matches_reference(case, layout, nthreads):
    """The direct forward against the reference, on any thread count; the same bits on 1 and 3 threads."""
    x, w, b, geom, dtype = case["x"], case["w"], case["b"], case["geom"], case["dtype"]
    y_ref = ref.conv2d_forward(x, w, b, *geom)
    with cython_settings(nthreads, algorithm=kernels.DIRECT):
        y = cy.conv2d_forward(relayout(x, layout), relayout(w, layout), b, *geom)
    with cython_settings(1, algorithm=kernels.DIRECT):
        y1 = cy.conv2d_forward(x, w, b, *geom)
    assert_close(y, y_ref, dtype, "y")
    np.testing.assert_array_equal(y, y1)


def test_direct_is_picked_for_few_channels_at_stride_one_and_its_backward_is_im2col():
    same = ((2, 2), (2, 2))
    assert cy._algorithm((64, 28, 28, 1), (5, 5, 1, 6), (1, 1), same, (1, 1), 1) == kernels.DIRECT  # LeNet conv1
    assert cy._algorithm((64, 14, 14, 6), (5, 5, 6, 16), (1, 1), same, (1, 1), 1) == kernels.DIRECT  # LeNet conv2
    assert cy._algorithm((8, 32, 32, 3), (3, 3, 3, 64), (1, 1), same, (1, 1), 1) == kernels.DIRECT  # RGB input
    for x_shape, w_shape, strides, dilation, groups in [
        ((8, 32, 32, 3), (3, 3, 3, 64), (2, 2), (1, 1), 1),  # strided
        ((8, 32, 32, 3), (3, 3, 3, 64), (1, 1), (2, 2), 1),  # dilated
        ((8, 32, 32, 8), (3, 3, 4, 8), (1, 1), (1, 1), 2),  # grouped
        ((8, 32, 32, 8), (3, 3, 8, 64), (1, 1), (1, 1), 1),  # 8 x 64: im2col's GEMM is faster
    ]:
        assert cy._algorithm(x_shape, w_shape, strides, same, dilation, groups) != kernels.DIRECT
    assert cy._backward_algorithm(kernels.DIRECT, (64, 28, 28, 1)) == kernels.IM2COL_T
    assert cy._backward_algorithm(kernels.DIRECT, (64, 14, 14, 6)) == kernels.IM2COL


def test_the_direct_kernel_refuses_a_backward_pass():
    x, w, dy = np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), np.ones((1, 2, 2, 2))
    with pytest.raises(ValueError, match="conv2d_backward: DIRECT is a forward algorithm"):
        kernels.conv2d_backward(dy, x, w, None, np.empty_like(w), None, 1, 1, 0, 0, 1, 1, 1, kernels.DIRECT, 1, 1)


@st.composite
def winograd_cases(draw):
    """3x3 stride-1 convolutions with enough channels and filters for Winograd F(2x2, 3x3)."""
    c, f = draw(st.integers(cy._WINOGRAD_MIN_CHANNELS, 24)), draw(st.integers(cy._WINOGRAD_MIN_CHANNELS, 24))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    assume(out_size(h, 3, 1, padding[0], 1) > 0 and out_size(w, 3, 1, padding[1], 1) > 0)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((3, 3, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if draw(st.booleans()) else None
    return dict(x=x, w=wt, b=b, geom=((1, 1), padding, (1, 1), 1), dtype=dtype, rng=rng)


@settings(max_examples=40, deadline=None)
@given(case=winograd_cases(), layout=st.sampled_from(["c", "strided"]), nthreads=st.sampled_from([1, 2, 3]),
       chunk_bytes=st.sampled_from([1, 40000, None]), need=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_winograd_matches_reference(case, layout, nthreads, chunk_bytes, need):
    """Forward, dx and dw by Winograd (odd sizes: partial edge tiles; one chunk or many), db summed directly."""
    x, w, b, geom, dtype = case["x"], case["w"], case["b"], case["geom"], case["dtype"]
    assert cy._algorithm(x.shape, w.shape, *geom) == cy.WINOGRAD
    y_ref = ref.conv2d_forward(x, w, b, *geom)
    dy = case["rng"].standard_normal(y_ref.shape).astype(dtype)
    expected = ref.conv2d_backward(dy, x, w, *geom, *need)
    with pytest.MonkeyPatch.context() as patch, cython_settings(nthreads):
        if chunk_bytes is not None:
            patch.setattr(cy, "_WINOGRAD_CHUNK_BYTES", chunk_bytes)
        y = cy.conv2d_forward(relayout(x, layout), relayout(w, layout), b, *geom)
        got = cy.conv2d_backward(relayout(dy, layout), relayout(x, layout), w, *geom, *need)
    assert_close(y, y_ref, dtype, "y")
    for name, g, e in zip(("dx", "dw", "db"), got, expected):
        assert (g is None) == (e is None), name
        if e is not None:
            assert_close(g, e, dtype, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_keeps_non_finite_values_local(dtype):
    """An inf or NaN input pixel makes non-finite only outputs of the tiles that read it (no 0 * inf anywhere)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 12, 12, 16)).astype(dtype)
    w = rng.standard_normal((3, 3, 16, 16)).astype(dtype)
    geom = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    assert cy._algorithm(x.shape, w.shape, *geom) == cy.WINOGRAD
    for bad in (np.inf, np.nan):
        x_bad = x.copy()
        x_bad[0, 6, 6, 3] = bad
        y = cy.conv2d_forward(x_bad, w, None, *geom)
        rows, cols = np.nonzero(~np.isfinite(y[0]).all(axis=-1))
        # pixel 6 (padding 1) is read by output tiles 2 and 3 on each axis: outputs 4..7
        assert set(rows) <= {4, 5, 6, 7} and set(cols) <= {4, 5, 6, 7} and len(rows) > 0
        y_ref = ref.conv2d_forward(x_bad, w, None, *geom)
        finite = np.isfinite(y).all(axis=-1)
        assert_close(y[finite], y_ref[finite], dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    assert np.isfinite(cy.conv2d_backward(dy, x, w, *geom)[1]).all()


def test_winograd_dw_partials_respect_the_workspace_limit():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 8, 8, 16))
    w = rng.standard_normal((3, 3, 16, 24))
    geom = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    dy = rng.standard_normal((4, 8, 8, 24))
    expected = ref.conv2d_backward(dy, x, w, *geom)
    with cython_settings(nthreads=3, workspace=1):  # room for less than one partial: one thread
        got = cy.conv2d_backward(dy, x, w, *geom)
    for g, e in zip(got, expected):
        assert_close(g, e, np.float64)


def test_winograd_is_picked_only_where_it_applies():
    pads = ((1, 1), (1, 1))
    assert cy._algorithm((8, 16, 16, 64), (3, 3, 64, 64), (1, 1), pads, (1, 1), 1) == cy.WINOGRAD
    for x_shape, w_shape, strides, padding, dilation, groups in [
        ((8, 16, 16, 64), (3, 3, 64, 64), (2, 2), pads, (1, 1), 1),  # strided
        ((8, 16, 16, 64), (3, 3, 64, 64), (1, 1), pads, (2, 2), 1),  # dilated
        ((8, 16, 16, 64), (3, 3, 32, 64), (1, 1), pads, (1, 1), 2),  # grouped
        ((8, 16, 16, 64), (5, 5, 64, 64), (1, 1), pads, (1, 1), 1),  # not 3x3
        ((8, 16, 16, 8), (3, 3, 8, 64), (1, 1), pads, (1, 1), 1),  # few channels
        ((8, 16, 16, 64), (3, 3, 64, 64), (1, 1), ((3, 0), (0, 0)), (1, 1), 1),  # dx would need negative padding
    ]:
        assert cy._algorithm(x_shape, w_shape, strides, padding, dilation, groups) != cy.WINOGRAD


@settings(max_examples=30, deadline=None)
@given(case=conv_cases(allow_groups=False), nthreads=st.sampled_from([1, 2]))
def test_im2col_col2im_match_reference(case, nthreads):
    x, dtype = case["x"], case["dtype"]
    strides, padding, dilation, _ = case["geom"]
    k = case["w"].shape[:2]
    cols = ref.im2col(x, k, strides, padding, dilation)
    dcols = case["rng"].standard_normal(cols.shape).astype(dtype)
    with cython_settings(nthreads):
        np.testing.assert_array_equal(cy.im2col(relayout(x, "strided"), k, strides, padding, dilation), cols)
        got = cy.col2im(dcols, x.shape, k, strides, padding, dilation)
    assert_close(got, ref.col2im(dcols, x.shape, k, strides, padding, dilation), dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=20, deadline=None)
@given(case=conv_cases(allow_groups=False))
def test_col2im_is_the_adjoint_of_im2col(backend, case):
    """<im2col(x), y> == <x, col2im(y)> in float64."""
    x = case["x"].astype(np.float64)
    strides, padding, dilation, _ = case["geom"]
    k = case["w"].shape[:2]
    cols = backend.im2col(x, k, strides, padding, dilation)
    y = case["rng"].standard_normal(cols.shape)
    lhs = np.vdot(cols, y)
    rhs = np.vdot(x, backend.col2im(y, x.shape, k, strides, padding, dilation))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_im2col_column_order_and_padding():
    """Columns are ordered (kh, kw, c); padded taps are zero."""
    x = np.arange(1, 1 + 2 * 3 * 3 * 2, dtype=np.float64).reshape(2, 3, 3, 2)
    for backend in (ref, cy):
        cols = backend.im2col(x, (2, 2), (1, 1), ((1, 0), (1, 0)), (1, 1))
        assert cols.shape == (2 * 3 * 3, 2 * 2 * 2)
        # output pixel (0, 0, 0): taps (0,0), (0,1), (1,0) are padding; tap (1,1) is x[0, 0, 0, :]
        np.testing.assert_array_equal(cols[0], [0, 0, 0, 0, 0, 0, 1, 2])
        # output pixel (1, 2, 2) reads x[1, 1:3, 1:3, :] in (kh, kw, c) order
        np.testing.assert_array_equal(cols[-1], x[1, 1:3, 1:3, :].reshape(-1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_outputs_are_new_writeable_arrays(backend):
    """Even where no copy is needed (1x1 windows, 1x1 kernels) no output aliases an input."""
    x, w = np.ones((2, 3, 3, 4)), np.ones((1, 1, 4, 4))
    geom = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    cols = backend.im2col(x, (1, 1), *geom[:3])
    y = backend.conv2d_forward(x, w, None, *geom)
    outputs = [cols, backend.col2im(cols, x.shape, (1, 1), *geom[:3]), y,
               *backend.conv2d_backward(y, x, w, *geom)]
    for out in outputs:
        assert out.flags.writeable and out.flags.c_contiguous
        assert not any(np.shares_memory(out, a) for a in (x, w, y, cols) if a is not out)


# ----------------------------------------------------------------------------- the reference itself

GEOMETRIES = [  # (x shape, (kh, kw, f), strides, padding, dilation, groups)
    ((2, 5, 6, 3), (3, 3, 4), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ((1, 7, 5, 2), (3, 2, 3), (2, 1), ((0, 2), (1, 0)), (1, 2), 1),
    ((2, 6, 6, 4), (2, 3, 6), (1, 2), ((1, 0), (0, 1)), (2, 1), 2),
    ((1, 5, 5, 3), (3, 3, 6), (2, 2), ((1, 1), (1, 1)), (1, 1), 3),
    ((2, 4, 4, 4), (1, 1, 8), (1, 1), ((0, 0), (0, 0)), (1, 1), 2),
]


@pytest.mark.parametrize("x_shape, kernel, strides, padding, dilation, groups", GEOMETRIES)
def test_reference_matches_naive_loop(x_shape, kernel, strides, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(kernel[:2] + (x_shape[3] // groups, kernel[2]))
    b = rng.standard_normal(kernel[2])
    geom = (strides, padding, dilation, groups)
    np.testing.assert_allclose(ref.conv2d_forward(x, w, b, *geom), naive_conv2d(x, w, b, *geom),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_covering_the_input_is_a_dense_layer(backend, dtype):
    """Kernel size == input size, valid padding: y = x.reshape(N, -1) @ w.reshape(-1, F) + b."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    w = rng.standard_normal((4, 5, 6, 7)).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    y = backend.conv2d_forward(x, w, b, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    assert y.shape == (3, 1, 1, 7)
    assert_close(y.reshape(3, 7), x.reshape(3, -1) @ w.reshape(-1, 7) + b, dtype)


# ----------------------------------------------------------------------------- gradients

def numeric_grad(f, a, eps=1e-6):
    """d f() / d a by central differences, perturbing ``a`` in place."""
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


FD_GEOMETRIES = [  # stride, padding, dilation, groups together; depthwise; pointwise grouped
    ((2, 5, 6, 4), (3, 2, 4), (2, 1), ((1, 0), (1, 2)), (1, 2), 2),
    ((2, 5, 5, 3), (3, 3, 6), (1, 2), ((1, 1), (0, 1)), (1, 1), 3),
    ((2, 4, 3, 4), (1, 1, 6), (1, 1), ((0, 0), (0, 0)), (1, 1), 2),
    ((1, 6, 5, 2), (2, 3, 3), (1, 1), ((1, 1), (2, 0)), (2, 1), 1),
    ((1, 3, 4, 16), (3, 3, 16), (1, 1), ((1, 2), (0, 1)), (1, 1), 1),  # Winograd
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("x_shape, kernel, strides, padding, dilation, groups", FD_GEOMETRIES)
def test_backward_matches_finite_differences(backend, x_shape, kernel, strides, padding, dilation, groups):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(kernel[:2] + (x_shape[3] // groups, kernel[2]))
    b = rng.standard_normal(kernel[2])
    geom = (strides, padding, dilation, groups)
    weights = rng.standard_normal(backend.conv2d_forward(x, w, b, *geom).shape)

    def loss():
        return float(np.vdot(backend.conv2d_forward(x, w, b, *geom), weights))

    dx, dw, db = backend.conv2d_backward(weights, x, w, *geom)
    for name, got, a in (("dx", dx, x), ("dw", dw, w), ("db", db, b)):
        np.testing.assert_allclose(got, numeric_grad(loss, a), rtol=1e-6, atol=1e-7, err_msg=name)


# ----------------------------------------------------------------------------- workspace, threads, edges

@pytest.mark.parametrize("x_shape, kernel, strides, padding, dilation, groups",
                         GEOMETRIES + [((3, 9, 8, 16), (3, 3, 8), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)])
@pytest.mark.parametrize("limit", [1, 2000, 20000])
def test_tiny_workspace_gives_the_unchunked_result(x_shape, kernel, strides, padding, dilation, groups,
                                                   limit):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(kernel[:2] + (x_shape[3] // groups, kernel[2]))
    b = rng.standard_normal(kernel[2])
    geom = (strides, padding, dilation, groups)
    y = cy.conv2d_forward(x, w, b, *geom)
    grads = cy.conv2d_backward(y, x, w, *geom)
    with cython_settings(workspace=limit):
        assert cy.get_workspace_limit() == limit
        assert_close(cy.conv2d_forward(x, w, b, *geom), y, np.float64)
        for g, e in zip(cy.conv2d_backward(y, x, w, *geom), grads):
            assert_close(g, e, np.float64)


def test_workspace_limit_setting():
    assert cy.get_workspace_limit() == 64 * 2**20
    with pytest.raises(ValueError, match="set_workspace_limit"):
        cy.set_workspace_limit(0)
    with pytest.raises(TypeError):
        cy.set_workspace_limit(1.5)
    assert cy.get_workspace_limit() == 64 * 2**20


def test_blas_thread_limit_is_restored():
    from threadpoolctl import threadpool_info

    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    x, w = np.ones((2, 8, 8, 8)), np.ones((3, 3, 8, 8))
    with cython_settings(nthreads=2):
        cy.conv2d_forward(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
        cy.conv2d_backward(np.ones((2, 8, 8, 8)), x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch(backend):
    x, w, b = np.ones((0, 5, 5, 3)), np.ones((3, 3, 3, 4)), np.ones(4)
    geom = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    y = backend.conv2d_forward(x, w, b, *geom)
    assert y.shape == (0, 3, 3, 4)
    dx, dw, db = backend.conv2d_backward(y, x, w, *geom)
    assert dx.shape == x.shape and not dw.any() and not db.any() and dw.shape == w.shape


@pytest.mark.parametrize("backend", BACKENDS)
def test_need_flags_return_none(backend):
    x, w = np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 3))
    geom = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    dy = backend.conv2d_forward(x, w, None, *geom)
    nothing = backend.conv2d_backward(dy, x, w, *geom, need_dx=False, need_dw=False, need_db=False)
    assert nothing == (None, None, None)
    dx, dw, db = backend.conv2d_backward(dy, x, w, *geom, need_dw=False)
    assert dx is not None and dw is None and db is not None


# ----------------------------------------------------------------------------- bad input

GOOD = dict(x=np.ones((2, 6, 6, 4)), w=np.ones((3, 3, 2, 6)), b=np.ones(6), strides=(1, 1),
            padding=((1, 1), (1, 1)), dilation=(1, 1), groups=2)


def call_forward(backend, **changes):
    a = {**GOOD, **changes}
    return backend.conv2d_forward(a["x"], a["w"], a["b"], a["strides"], a["padding"], a["dilation"],
                                  a["groups"])


BAD_FORWARD = [  # (changes, error type, fragments the message must contain)
    (dict(x=np.ones((6, 6, 4))), ValueError, ["x", "4 dimensions", "(6, 6, 4)"]),
    (dict(w=np.ones((3, 3, 2))), ValueError, ["w", "4 dimensions", "(3, 3, 2)"]),
    (dict(b=np.ones((6, 1))), ValueError, ["b", "1 dimensions", "(6, 1)"]),
    (dict(x=[[1.0]]), TypeError, ["x", "numpy.ndarray", "list"]),
    (dict(x=np.ones((2, 6, 6, 4), np.int64)), TypeError, ["x", "int64"]),
    (dict(w=np.ones((3, 3, 2, 6), np.float32)), TypeError, ["float32", "float64"]),
    (dict(b=np.ones(6, np.float32)), TypeError, ["float32", "float64"]),
    (dict(w=np.ones((3, 3, 3, 6))), ValueError, ["2 input channels", "(2, 6, 6, 4)", "(3, 3, 3, 6)"]),
    (dict(w=np.ones((3, 3, 4, 6)), groups=1, x=np.ones((2, 6, 6, 3))), ValueError,
     ["3 input channels", "(3, 3, 4, 6)"]),
    (dict(w=np.ones((3, 3, 2, 5))), ValueError, ["groups=2", "F=5", "(3, 3, 2, 5)"]),
    (dict(groups=3), ValueError, ["groups=3", "C=4", "(2, 6, 6, 4)"]),
    (dict(groups=0), ValueError, ["groups", "0"]),
    (dict(groups=-2), ValueError, ["groups", "-2"]),
    (dict(groups=1.5), TypeError, ["groups", "1.5"]),
    (dict(b=np.ones(5)), ValueError, ["b", "(6,)", "(5,)"]),
    (dict(w=np.ones((0, 3, 2, 6))), ValueError, ["w", "(0, 3, 2, 6)"]),
    (dict(x=np.ones((2, 0, 6, 4))), ValueError, ["height", "(2, 0, 6, 4)"]),
    (dict(w=np.ones((9, 3, 2, 6))), ValueError, ["height", "9", "output size would be 0"]),
    (dict(w=np.ones((3, 3, 2, 6)), dilation=(1, 5)), ValueError, ["width", "dilation 5", "span 11"]),
    (dict(strides=(0, 1)), ValueError, ["strides", "(0, 1)"]),
    (dict(strides=(1, -1)), ValueError, ["strides", "(1, -1)"]),
    (dict(dilation=(0, 1)), ValueError, ["dilation", "(0, 1)"]),
    (dict(strides=(1, 1, 1)), ValueError, ["strides", "(1, 1, 1)"]),
    (dict(padding=((1, -1), (0, 0))), ValueError, ["padding", "non-negative"]),
    (dict(padding=(1, 1)), ValueError, ["padding", "(1, 1)"]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("changes, error, fragments", BAD_FORWARD,
                         ids=[f"{i}-{'-'.join(c)}" for i, (c, _, _) in enumerate(BAD_FORWARD)])
def test_forward_rejects_bad_input(backend, changes, error, fragments):
    with pytest.raises(error) as info:
        call_forward(backend, **changes)
    message = str(info.value)
    assert message.startswith("conv2d: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_rejects_bad_dy(backend):
    x, w = GOOD["x"], GOOD["w"]
    geom = (GOOD["strides"], GOOD["padding"], GOOD["dilation"], GOOD["groups"])
    with pytest.raises(ValueError) as info:
        backend.conv2d_backward(np.ones((2, 6, 5, 6)), x, w, *geom)
    message = str(info.value)
    assert message.startswith("conv2d_backward: ") and "(2, 6, 6, 6)" in message and "(2, 6, 5, 6)" in message
    with pytest.raises(TypeError, match="conv2d_backward: .*dy=float32"):
        backend.conv2d_backward(np.ones((2, 6, 6, 6), np.float32), x, w, *geom)
    with pytest.raises(ValueError, match=r"conv2d_backward: expected groups=3 to divide .*C=4"):
        backend.conv2d_backward(np.ones((2, 6, 6, 6)), x, w, *geom[:3], 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_im2col_col2im_reject_bad_input(backend):
    geom = ((3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1))
    with pytest.raises(ValueError, match=r"im2col: expected x to have 4 dimensions, got shape \(5, 5\)"):
        backend.im2col(np.ones((5, 5)), *geom)
    with pytest.raises(ValueError, match=r"im2col: expected kernel_size .* got \(0, 3\)"):
        backend.im2col(np.ones((1, 5, 5, 2)), (0, 3), *geom[1:])
    with pytest.raises(ValueError, match=r"col2im: expected cols to have shape \(9, 18\), got \(9, 17\)"):
        backend.col2im(np.ones((9, 17)), (1, 5, 5, 2), *geom)
    with pytest.raises(ValueError, match=r"col2im: expected x_shape to be \(N, H, W, C\)"):
        backend.col2im(np.ones((9, 18)), (5, 5, 2), *geom)
    with pytest.raises(TypeError, match="col2im: expected cols to be float32 or float64, got int64"):
        backend.col2im(np.ones((9, 18), np.int64), (1, 5, 5, 2), *geom)
