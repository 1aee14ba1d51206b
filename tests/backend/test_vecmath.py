"""csrc/vecmath.h: the sigmoid and tanh runs of the recurrent kernels (compiled for AVX-512, AVX2+FMA and
SSE2; the loader picks one) against float64 NumPy, and the same bits wherever a value sits in a run."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnkit._ext import rnn as rnn_ext
from nnkit.backend.reference.rnn import ACTIVATIONS

SIGMOID, TANH = ACTIVATIONS.index("sigmoid"), ACTIVATIONS.index("tanh")
EXACT = {SIGMOID: lambda x: 1.0 / (1.0 + np.exp(-x)), TANH: np.tanh}
ULPS = {np.float32: 4, np.float64: 4}


def run(code, values, dtype):
    v = np.array(values, dtype=dtype)
    rnn_ext._activation_run(code, v)
    return v


def ulp_error(got, exact, dtype):
    """|got - exact| in units of the last place of the exact value (denormal-sized at worst)."""
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / np.maximum(spacing, np.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("code", [SIGMOID, TANH])
def test_within_a_few_ulps_of_float64_over_the_whole_range(code, dtype):
    with np.errstate(over="ignore"):
        x = np.concatenate([np.linspace(-30, 30, 100_003), np.geomspace(1e-30, 1e3, 5001),
                            -np.geomspace(1e-30, 1e3, 5001), [0.0, -0.0, 85.0, -85.0, 700.0, -700.0]]).astype(dtype)
        exact = EXACT[code](x.astype(np.float64))
    got = run(code, x, dtype)
    assert ulp_error(got, exact, dtype).max() <= ULPS[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_limits_and_nan(dtype):
    inf, nan = np.inf, np.nan
    # the exponent is clamped into exp's domain: far left, the float's smallest normal sizes, not 0
    tiny = 2e-38 if dtype == np.float32 else 4e-308
    np.testing.assert_allclose(run(SIGMOID, [-inf, inf, -1e30, 1e30], dtype), [0, 1, 0, 1], rtol=0, atol=tiny)
    np.testing.assert_array_equal(run(TANH, [-inf, inf, -1e30, 1e30, 0.0], dtype), [-1, 1, -1, 1, 0])
    assert np.isnan(run(SIGMOID, [nan], dtype)).all() and np.isnan(run(TANH, [nan], dtype)).all()
    assert (run(SIGMOID, [-inf, -1e30], dtype) >= 0).all()


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]), code=st.sampled_from([SIGMOID, TANH]))
def test_a_value_gets_the_same_bits_wherever_it_sits_in_a_run(data, dtype, code):
    """A run is cut differently by each team size (batch rows per thread) and starts at any alignment: the
    vector body, the peeled head and the scalar tail must agree bit for bit."""
    values = data.draw(hnp.arrays(dtype, st.integers(1, 70), elements=st.floats(-40, 40, width=32)))
    whole = run(code, values, dtype)
    start = data.draw(st.integers(0, len(values) - 1))
    buffer = np.zeros(len(values) + 17, dtype)
    offset = data.draw(st.integers(0, 16))  # another alignment of the same values
    part = buffer[offset:offset + len(values) - start]
    part[:] = values[start:]
    rnn_ext._activation_run(code, part)
    np.testing.assert_array_equal(part, whole[start:])
