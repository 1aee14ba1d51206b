"""Inference chains (``nnkit.backend.cython.chain``): the kernels' answers bit for bit, the NumPy reference's
within rounding, None for anything unlike what they were built for, and clear errors for bad layers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit import threads
from nnkit.backend import cython as cy
from nnkit.backend import reference as ref
from nnkit.backend.cython.chain import ChainBuilder

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def run_kernels(k, x, layers):
    """The layers through backend ``k``'s kernels, as an inference plan's steps call them."""
    for kind, args in layers:
        if kind == "conv2d":
            w, b, strides, padding, dilation, groups, relu = args
            x = k.conv2d_forward(x, w, None if relu else b, strides, padding, dilation, groups)
            if relu:
                x = k.bias_relu(x, b, True, out=x)
        elif kind == "max_pool2d":
            x = k.max_pool2d_forward(x, *args)[0]
        elif kind == "reshape":
            x = x.reshape(args)
        else:
            w, b, relu = args
            x = k.matmul(x, w)
            if b is not None or relu:
                x = k.bias_relu(x, b, relu, out=x)
    return x


def build(x_shape, dtype, layers):
    builder = ChainBuilder(x_shape, dtype)
    for kind, args in layers:
        assert getattr(builder, kind)(*args if kind != "reshape" else (args,)) is True, kind
    return builder.build(), builder.weights


@st.composite
def chains(draw):
    """conv2d (IM2COL, IM2COL_T, POINTWISE or DIRECT; strides, padding, dilation, groups, bias, ReLU), an optional
    max pool (overlapping, padded), then flatten and one or two dense layers."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def array(*shape):
        return rng.standard_normal(shape).astype(dtype)

    groups = draw(st.sampled_from([1, 1, 2]))
    c = groups * draw(st.integers(1 if groups == 1 else 2, 4))  # groups == C would be depthwise
    f = groups * draw(st.sampled_from([1, 2, 3, 4, 6, 8, 16]))  # DIRECT goes over filters for F % 8 == 0
    pointwise = draw(st.booleans())
    kh, kw = (1, 1) if pointwise else (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (1, 1) if pointwise else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (1, 1) if pointwise else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = ((0, 0), (0, 0)) if pointwise else tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                                                         for _ in range(2))
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(7, 12)), draw(st.integers(7, 12))  # a window spans <= 7
    x = array(n, h, w, c)
    if draw(st.booleans()):  # small integers: ties, and exact zeros for the ReLU
        x = rng.integers(-2, 3, x.shape).astype(dtype)
    layers = [("conv2d", (array(kh, kw, c // groups, f), array(f) if draw(st.booleans()) else None, strides,
                          padding, dilation, groups, draw(st.booleans())))]
    y = run_kernels(cy, x, layers)
    if draw(st.booleans()):
        pool = (draw(st.integers(1, min(3, y.shape[1]))), draw(st.integers(1, min(3, y.shape[2]))))
        pads = tuple((draw(st.integers(0, p - 1)), draw(st.integers(0, p - 1))) for p in pool)
        layers.append(("max_pool2d", (pool, (draw(st.integers(1, 2)), draw(st.integers(1, 2))), pads)))
        y = run_kernels(cy, y, layers[-1:])
    layers.append(("reshape", (y.shape[0], int(np.prod(y.shape[1:])))))
    k = int(np.prod(y.shape[1:]))
    for _ in range(draw(st.integers(1, 2))):
        units = draw(st.integers(1, 12))
        layers.append(("dense", (array(k, units), array(units) if draw(st.booleans()) else None,
                                 draw(st.booleans()))))
        k = units
    return x, layers


@settings(max_examples=60, deadline=None)
@given(chains())
def test_a_chain_equals_its_kernels_bitwise_and_the_reference(case):
    x, layers = case
    chain, weights = build(x.shape, x.dtype, layers)
    got = chain(x, weights)
    assert got.dtype == x.dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, run_kernels(cy, x, layers))
    np.testing.assert_allclose(got, run_kernels(ref, x, layers), **TOL[x.dtype.type])
    again = chain(x, weights)
    assert again is not got  # a fresh array every call: the next call never overwrites an answer
    np.testing.assert_array_equal(again, got)


def test_nan_and_signed_zeros_pool_as_the_kernel_has_them():
    # windows (2x2): [nan, 1, 2, 3] -> nan; [1, nan, 0, 0] -> 1; [-0, 0, 0, 0] -> -0 (the first of equals)
    x = np.array([np.nan, 1, 1, np.nan, -0.0, 0.0, 2, 3, 0, 0, 0, 0], np.float32).reshape(1, 2, 6, 1)
    layers = [("max_pool2d", ((2, 2), (2, 2), ((0, 0), (0, 0)))), ("max_pool2d", ((1, 1), (1, 1), ((0, 0), (0, 0))))]
    chain, weights = build(x.shape, x.dtype, layers)
    want = run_kernels(cy, x, layers)
    got = chain(x, weights)
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    assert np.isnan(got[0, 0, 0, 0]) and got[0, 0, 1, 0] == 1 and np.signbit(got[0, 0, 2, 0])
    # padded windows (cut at the image's edge): [5] -> 5; [-0, 0] -> -0; [1, nan] -> 1
    x = np.array([5, -0.0, 0.0, 1, np.nan, 2], np.float64).reshape(1, 1, 6, 1)
    layers = [("max_pool2d", ((2, 2), (2, 2), ((1, 0), (1, 0))))]
    chain, weights = build(x.shape, x.dtype, layers)
    got = chain(x, weights)
    np.testing.assert_array_equal(got, run_kernels(cy, x, layers))
    assert got.ravel().tolist() == [5, 0, 1] and np.signbit(got[0, 0, 1, 0])


def lenet_layers(dtype):
    rng = np.random.default_rng(1)
    return [("conv2d", (rng.standard_normal((5, 5, 1, 6)).astype(dtype), np.ones(6, dtype), (1, 1),
                        ((2, 2), (2, 2)), (1, 1), 1, True)),
            ("max_pool2d", ((2, 2), (2, 2), ((0, 0), (0, 0)))),
            ("reshape", (1, 14 * 14 * 6)),
            ("dense", (rng.standard_normal((14 * 14 * 6, 10)).astype(dtype), None, False))]


def test_an_input_or_weights_unlike_the_built_ones_give_none():
    layers = lenet_layers(np.float32)
    chain, weights = build((1, 28, 28, 1), np.float32, layers)
    x = np.random.default_rng(0).standard_normal((1, 28, 28, 1)).astype(np.float32)
    assert chain(x, weights) is not None
    wide = np.zeros((1, 28, 28, 2), np.float32)
    for bad in (x.astype(np.float64), x[:, :27], np.asfortranarray(x.reshape(28, 28)).reshape(1, 28, 28, 1),
                wide[..., ::2], x.tolist(), None):
        assert chain(bad, weights) is None
    replaced = [w.copy() for w in weights]
    assert chain(x, replaced) is None and chain(x, weights[:-1]) is None
    weights[0][...] *= 2  # in place: seen
    np.testing.assert_array_equal(chain(x, weights), run_kernels(cy, x, layers))


def test_steps_it_cannot_chain_are_refused():
    rng = np.random.default_rng(2)
    b = ChainBuilder((1, 8, 8, 32), np.float32)
    assert not b.conv2d(rng.standard_normal((3, 3, 32, 32)).astype(np.float32), None, (1, 1), ((1, 1), (1, 1)),
                        (1, 1), 1, False)  # Winograd
    assert not b.conv2d(rng.standard_normal((3, 3, 1, 32)).astype(np.float32), None, (1, 1), ((1, 1), (1, 1)),
                        (1, 1), 32, False)  # depthwise
    big = ChainBuilder((64, 32, 32, 16), np.float32)  # the kernels would start a team...
    assert not big.max_pool2d((2, 2), (2, 2), ((0, 0), (0, 0)))
    before = threads.get_num_threads()
    threads.set_num_threads(1)  # ... even if the team is 1 now (it may grow, and the chunks with it)
    try:
        assert not big.conv2d(np.ones((3, 3, 16, 8), np.float32), None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, True)
    finally:
        threads.set_num_threads(before)
    dense = ChainBuilder((1, 4), np.float32)
    assert not dense.dense(np.ones((4, 3), np.float32).T.copy().T, None, False)  # not C-contiguous: not in place
    assert dense.build() is None  # no step


def test_bad_layers_raise_errors_that_name_the_op():
    with pytest.raises(TypeError, match="inference chain: expected a float32 or float64 input, got float16"):
        ChainBuilder((1, 4, 4, 1), np.float16)
    b = ChainBuilder((1, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: expected w to have C // groups = 3 input channels"):
        b.conv2d(np.ones((3, 3, 2, 4), np.float32), None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1, False)
    with pytest.raises(TypeError, match="conv2d: expected w and x to have the same dtype|conv2d: .*dtype"):
        b.conv2d(np.ones((3, 3, 3, 4), np.float64), None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1, False)
    with pytest.raises(ValueError, match="max_pool2d"):
        b.max_pool2d((9, 9), (1, 1), ((0, 0), (0, 0)))
    with pytest.raises(ValueError, match=r"dense: an inference chain multiplies a 2-D input, got shape \(1, 8, 8, 3\)"):
        b.dense(np.ones((3, 2), np.float32), None, False)
    with pytest.raises(ValueError, match=r"reshape: cannot take an output of shape \(1, 8, 8, 3\) as \(1, 100\)"):
        b.reshape((1, 100))
    b.reshape((1, 192))
    with pytest.raises(ValueError, match="matmul: inner dimensions differ"):
        b.dense(np.ones((100, 2), np.float32), None, False)
    with pytest.raises(ValueError, match=r"dense: expected a bias of shape \(2,\), got \(3,\)"):
        b.dense(np.ones((192, 2), np.float32), np.ones(3, np.float32), False)


def test_the_compiled_chain_refuses_misuse_without_crashing():
    from nnkit._ext.chain import Chain
    chain = Chain((1, 4), np.float32)
    with pytest.raises(ValueError, match="finish"):
        chain.finish()  # no step
    with pytest.raises(TypeError):
        chain.add_dense([[1.0]], None, False)  # not an array
    chain.add_dense(np.ones((4, 2), np.float32), None, False)
    chain.finish()
    with pytest.raises(ValueError, match="finished; no more steps"):
        chain.add_dense(np.ones((2, 2), np.float32), None, False)
    with pytest.raises(ValueError, match="finish"):
        chain.finish()
