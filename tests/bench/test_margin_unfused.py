"""The benchmarks' unfused ArcFace computes what the fused kernel computes (so the timing compares like with like)."""
import numpy as np
import pytest

from nnkit import Tensor
from nnkit import functional as F
from nnkit.bench.margin_unfused import arcface_unfused


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_unfused_arcface_matches_the_fused_kernel(dtype, tol):
    rng = np.random.default_rng(0)
    cosines = rng.uniform(-1, 1, (16, 50)).astype(dtype)
    labels = rng.integers(0, 50, 16)
    unfused, fused = Tensor(cosines, requires_grad=True), Tensor(cosines, requires_grad=True)
    a = arcface_unfused(unfused, labels)
    b = F.margin_cross_entropy(fused, labels, 64.0, margin="arcface", m2=0.5)
    a.backward()
    b.backward()
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol)
    np.testing.assert_allclose(unfused.grad, fused.grad, rtol=tol, atol=tol)
