"""Tensor construction, dtypes, graph recording and the backward pass."""
import numpy as np
import pytest

import nnkit
from nnkit import Tensor, ops


def test_dtypes():
    assert Tensor([1, 2, 3]).dtype == np.float32
    assert Tensor([1.5, 2.0]).dtype == np.float32 and Tensor(2.5).dtype == np.float32
    assert Tensor(np.float64(2.5)).dtype == np.float64
    assert Tensor(np.zeros(3)).dtype == np.float64
    assert Tensor(np.zeros(3, np.float32)).dtype == np.float32
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64
    t = Tensor(np.zeros((2, 3), np.float32))
    assert (t + 1).dtype == np.float32 and (t * 2.5).dtype == np.float32
    assert (t + np.ones(3, np.int64)).dtype == np.float32
    assert (np.float64(2.0) * t).dtype == np.float32


def test_mixed_float_dtypes_are_an_error():
    a, b = Tensor(np.zeros(3, np.float32)), Tensor(np.zeros(3, np.float64))
    with pytest.raises(TypeError, match="float32, float64"):
        a + b
    assert (a + b.astype(np.float32)).dtype == np.float32


def test_ndarray_on_the_left_defers_to_tensor():
    t = Tensor(np.ones(3), requires_grad=True)
    out = np.full(3, 2.0) * t
    assert isinstance(out, Tensor) and out.requires_grad
    out = np.ones((2, 3)) @ t
    assert isinstance(out, Tensor) and out.shape == (2,)


def test_only_floats_require_grad():
    with pytest.raises(TypeError, match="float32/float64"):
        Tensor(np.array([1, 2]), requires_grad=True, dtype=np.int64)


def test_backward_accumulates_over_uses_and_calls():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.numpy() + 1)
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.numpy() + 4)
    x.zero_grad()
    assert x.grad is None


def test_leaf_grad_is_not_aliased():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    a.grad += 1
    np.testing.assert_array_equal(b.grad, np.ones(3))


def test_no_grad_and_enable_grad():
    x = Tensor(np.ones(2), requires_grad=True)
    with nnkit.no_grad():
        y = x * 2
        assert not y.requires_grad and not nnkit.is_grad_enabled()
        with nnkit.enable_grad():
            assert (x * 2).requires_grad
    assert nnkit.is_grad_enabled()

    @nnkit.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_backward_errors():
    with pytest.raises(RuntimeError, match="does not require gradients"):
        Tensor(np.ones(2)).sum().backward()
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="single-element"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected \(2,\)"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.array([1.0, 0.5]))
    np.testing.assert_allclose(x.grad, [2.0, 1.0])


def test_graph_freed_unless_retained():
    x = Tensor(np.ones(2), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0, 4.0])
    assert y._ctx is None


def test_deep_graph_does_not_hit_recursion_limit():
    x = Tensor(np.ones(1), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0])


def test_detach_cuts_graph_and_views():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.numpy() is x.numpy()
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert np.asarray(x) is x.numpy()
    assert "requires_grad=True" in repr(x)


def test_diamond_graph():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    a = ops.exp(x)
    b = a * a
    c = a + b
    c.sum().backward()
    e = np.exp(x.numpy())
    np.testing.assert_allclose(x.grad, e + 2 * e * e)


def test_leaf_grads_never_share_memory_with_each_other_or_the_seed():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    seed = np.ones(3)
    (a + b).backward(seed)
    assert not np.shares_memory(a.grad, b.grad) and not np.shares_memory(a.grad, seed)
    a.grad *= 5  # an optimizer clipping in place touches only a's gradient
    np.testing.assert_array_equal(b.grad, np.ones(3))
    np.testing.assert_array_equal(seed, np.ones(3))
    c = Tensor(np.ones((2, 3)), requires_grad=True)
    c.sum().backward()  # the gradient of a sum is a read-only broadcast view: the leaf gets a copy
    assert c.grad.flags.writeable and c.grad.base is None
