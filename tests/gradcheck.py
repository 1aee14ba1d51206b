"""One helper for every op: analytic gradients against central differences."""
import numpy as np

from nnkit import Tensor


def numeric_grad(f, arrays, index, eps=1e-6):
    """d f(arrays) / d arrays[index] by central differences (f returns a float)."""
    x = arrays[index]
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = f(arrays)
        flat[i] = old - eps
        minus = f(arrays)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def check_grad(fn, *arrays, wrt=None, rtol=1e-5, atol=1e-7, seed=0):
    """Check every input gradient of ``fn(*tensors) -> Tensor`` in float64.

    The output is contracted with fixed random weights so that every output
    element contributes with a distinct weight.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    wrt = range(len(arrays)) if wrt is None else wrt
    tensors = [Tensor(a.copy(), requires_grad=i in wrt) for i, a in enumerate(arrays)]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    (out * Tensor(weights)).sum().backward()

    def scalar(arrs):
        return float((fn(*[Tensor(a) for a in arrs]).numpy() * weights).sum())

    for i in wrt:
        expected = numeric_grad(scalar, [a.copy() for a in arrays], i)
        got = tensors[i].grad
        assert got is not None, f"input {i} received no gradient"
        assert got.shape == arrays[i].shape, f"input {i}: gradient shape {got.shape} != {arrays[i].shape}"
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
    return out
