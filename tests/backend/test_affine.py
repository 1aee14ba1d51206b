"""Projective resampling kernels: Cython against the NumPy reference, both against
hand-computed shifts and np.pad's border modes, the adjoint identity, float64
gradients through nnkit.image.affine_transform, and every validation rule."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import check_grad
from nnkit import image
from nnkit.backend.cython import affine as cy
from nnkit.backend.reference import affine as ref

BACKENDS = [pytest.param(ref, id="reference"), pytest.param(cy, id="cython")]
MODES = ["reflect", "wrap", "nearest", "constant"]
PAD_MODE = {"reflect": "symmetric", "wrap": "wrap", "nearest": "edge", "constant": "constant"}  # np.pad's names
IDENTITY = np.array([1, 0, 0, 0, 1, 0, 0, 0], dtype=np.float64)


def translation(dx, dy):
    """Output (i, j) reads input (i - dy, j - dx): the content moves right by dx and down by dy."""
    return np.array([1, 0, -dx, 0, 1, -dy, 0, 0], dtype=np.float64)


def non_contiguous(x):
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- hand-computed values

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_identity_transform_returns_the_input(backend, interpolation):
    x = np.random.default_rng(0).standard_normal((3, 4, 5, 2))
    np.testing.assert_array_equal(backend.affine_forward(x, IDENTITY, None, interpolation), x)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dx,dy", [(2, 1), (-3, 0), (0, -2), (7, -9)])
def test_integer_shifts_equal_numpy_pad_border_modes(backend, mode, dx, dy):
    """An integer translation is a crop of the padded image; Keras's reflect is np.pad's 'symmetric'."""
    rng = np.random.default_rng(1)
    h, w = 4, 5
    x = rng.standard_normal((2, h, w, 3))
    p = 12
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode=PAD_MODE[mode],
                    **({"constant_values": 0.5} if mode == "constant" else {}))
    expected = padded[:, p - dy:p - dy + h, p - dx:p - dx + w]
    for interpolation in ("nearest", "bilinear"):
        got = backend.affine_forward(x, translation(dx, dy), None, interpolation, mode, 0.5)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bilinear_weights_and_nearest_rounds_half_to_even(backend):
    x = np.arange(6, dtype=np.float64).reshape(1, 1, 6, 1)  # one row: 0 1 2 3 4 5
    got = backend.affine_forward(x, translation(-0.25, 0), None, "bilinear", "nearest")
    np.testing.assert_allclose(got[0, 0, :, 0], [0.25, 1.25, 2.25, 3.25, 4.25, 5.0])
    # reads x at j + 0.5: round half to even gives 0, 2, 2, 4, 4, 6 -> clamped to 5
    got = backend.affine_forward(x, translation(-0.5, 0), None, "nearest", "nearest")
    np.testing.assert_array_equal(got[0, 0, :, 0], [0, 2, 2, 4, 4, 5])


@pytest.mark.parametrize("backend", BACKENDS)
def test_constant_mode_blends_fill_value_tap_by_tap(backend):
    x = np.ones((1, 2, 2, 1))
    got = backend.affine_forward(x, translation(0.5, 0), None, "bilinear", "constant", 3.0)
    # column 0 reads x at -0.5: half a tap outside (3) and half inside (1)
    np.testing.assert_allclose(got[0, :, :, 0], [[2.0, 1.0], [2.0, 1.0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotation_by_a_quarter_turn_is_rot90(backend):
    from nnkit.layers.augmentation import rotation_transforms

    x = np.random.default_rng(2).standard_normal((1, 5, 5, 2))
    t = rotation_transforms(np.array([np.pi / 2]), 5, 5)
    got = backend.affine_forward(x, t, None, "bilinear", "constant")
    np.testing.assert_allclose(got, np.rot90(x, k=1, axes=(1, 2)), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_projective_denominator_and_output_size(backend):
    x = np.random.default_rng(3).standard_normal((1, 4, 4, 1))
    t = np.array([2, 0, 0, 0, 2, 0, 0.1, 0.0])  # x' = 2j / (0.1 j + 1)
    got = backend.affine_forward(x, t, (2, 3), "nearest", "nearest")
    for j in range(3):
        col = min(int(np.round(2 * j / (0.1 * j + 1))), 3)
        for i in range(2):
            row = min(int(np.round(2 * i / (0.1 * j + 1))), 3)
            assert got[0, i, j, 0] == x[0, row, col, 0]


# ----------------------------------------------------------------------------- Cython == reference

@st.composite
def cases(draw):
    n, h, w, c = (draw(st.integers(1, 4)), draw(st.integers(1, 7)), draw(st.integers(1, 7)),
                  draw(st.integers(1, 4)))
    out = draw(st.sampled_from([None, (draw(st.integers(1, 6)), draw(st.integers(1, 6)))]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    t = rng.standard_normal((n, 8)) * draw(st.sampled_from([0.5, 2.0, 20.0]))
    t[:, 6:] = rng.uniform(0, 0.02, (n, 2)) if draw(st.booleans()) else 0.0
    if draw(st.booleans()):
        t = t[0]  # one transform shared by the batch
    return (x, t, out, draw(st.sampled_from(["nearest", "bilinear"])), draw(st.sampled_from(MODES)),
            float(draw(st.sampled_from([0.0, -1.5]))), draw(st.booleans()), rng)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_cython_matches_reference(case):
    x, t, out, interpolation, mode, fill, contiguous, rng = case
    expected = ref.affine_forward(x, t, out, interpolation, mode, fill)
    got = cy.affine_forward(x if contiguous else non_contiguous(x), t, out, interpolation, mode, fill)
    assert got.dtype == x.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **tolerance(x.dtype))
    dy = rng.standard_normal(expected.shape).astype(x.dtype)
    dx_ref = ref.affine_backward(dy, t, x.shape, interpolation, mode)
    dx_cy = cy.affine_backward(dy if contiguous else non_contiguous(dy), t, x.shape, interpolation, mode)
    assert dx_cy.dtype == x.dtype
    np.testing.assert_allclose(dx_cy, dx_ref, **tolerance(x.dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cython_matches_reference_on_a_parallel_batch(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 40, 33, 3)).astype(dtype)
    from nnkit.layers.augmentation import rotation_transforms

    t = rotation_transforms(rng.uniform(-1, 1, 9), 40, 33)
    for mode in MODES:
        y = cy.affine_forward(x, t, None, "bilinear", mode)
        np.testing.assert_allclose(y, ref.affine_forward(x, t, None, "bilinear", mode), **tolerance(dtype))
        dy = rng.standard_normal(y.shape).astype(dtype)
        np.testing.assert_allclose(cy.affine_backward(dy, t, x.shape, "bilinear", mode),
                                   ref.affine_backward(dy, t, x.shape, "bilinear", mode), **tolerance(dtype))


# ----------------------------------------------------------------------------- adjoint and gradients

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_backward_is_the_adjoint(backend, mode, interpolation):
    """<A x, g> == <x, A^T g> (fill_value 0, so A is linear)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 5, 2))
    t = rng.standard_normal((3, 8)) * 2
    t[:, 6:] = 0
    y = backend.affine_forward(x, t, (4, 7), interpolation, mode, 0.0)
    g = rng.standard_normal(y.shape)
    dx = backend.affine_backward(g, t, x.shape, interpolation, mode)
    assert np.vdot(y, g) == pytest.approx(np.vdot(x, dx), rel=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_through_affine_transform(mode):
    rng = np.random.default_rng(6)
    t = rng.standard_normal((2, 8)) * 1.3 + np.array([1, 0, 0.3, 0, 1, 0.2, 0, 0])
    t[:, 6:] = 0
    check_grad(lambda x: image.affine_transform(x, t, "bilinear", mode, 0.7), rng.standard_normal((2, 4, 5, 3)))


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input_is_a_clear_error(backend):
    x = np.zeros((2, 3, 3, 1))
    with pytest.raises(TypeError, match="affine_transform: expected images to be float32 or float64, got int64"):
        backend.affine_forward(np.zeros((2, 3, 3, 1), np.int64), IDENTITY)
    with pytest.raises(ValueError, match=r"affine_transform: expected images to have 4 dimensions, got shape \(3, 3\)"):
        backend.affine_forward(np.zeros((3, 3)), IDENTITY)
    with pytest.raises(ValueError, match=r"H, W >= 1, got shape \(2, 0, 3, 1\)"):
        backend.affine_forward(np.zeros((2, 0, 3, 1)), IDENTITY)
    with pytest.raises(ValueError, match=r"transforms of shape \(8,\) or \(2, 8\).*got \(3, 8\)"):
        backend.affine_forward(x, np.zeros((3, 8)))
    with pytest.raises(ValueError, match="transforms must be finite"):
        backend.affine_forward(x, np.array([1, 0, np.nan, 0, 1, 0, 0, 0]))
    with pytest.raises(ValueError, match="projective denominator .* must be positive over the 3x3 output"):
        backend.affine_forward(x, np.array([1, 0, 0, 0, 1, 0, -1.0, 0]))
    with pytest.raises(ValueError, match="unknown fill_mode 'mirror'; valid choices: reflect, wrap, nearest"):
        backend.affine_forward(x, IDENTITY, None, "bilinear", "mirror")
    with pytest.raises(ValueError, match="unknown interpolation 'bicubic'"):
        backend.affine_forward(x, IDENTITY, None, "bicubic")
    with pytest.raises(ValueError,
                       match=r"affine_transform: expected output_size to be positive integers below 2\*\*62, got \(0, 2\)"):
        backend.affine_forward(x, IDENTITY, (0, 2))
    with pytest.raises(TypeError, match=r"affine_transform: expected output_size to be integers, got \(2.5, 3\)"):
        backend.affine_forward(x, IDENTITY, (2.5, 3))
    with pytest.raises(ValueError, match="expected input_shape .* with dy's N and C"):
        backend.affine_backward(x, IDENTITY, (2, 3, 3, 4))
