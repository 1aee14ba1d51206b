"""Inputs that reached the user as a raw NumPy error (or a silent wrong answer): nnkit's error naming the op,
what it expected and what it got, or, where the maths is defined, the right answer on both backends."""
import numpy as np
import pytest

import nnkit
from nnkit import Tensor
from nnkit import functional as F
from nnkit.layers import Dense


@pytest.fixture(params=["cython", "numpy"])
def backend(request):
    previous = nnkit.get_backend()
    nnkit.set_backend(request.param)
    yield request.param
    nnkit.set_backend(previous)


@pytest.mark.parametrize("value,fragment", [
    (np.array([1 + 2j, 3]), "complex values (dtype complex128)"),
    (np.array(["a", "b"]), "text (dtype <U1"),
    (np.array([b"a"]), "text (dtype |S1"),
    (np.array([1.0, None], dtype=object), "objects (dtype object, e.g. None)"),
])
def test_tensors_hold_real_numbers_only(value, fragment):
    for make in (Tensor, lambda v: Tensor(v, dtype=np.float32), lambda v: F.linear(v, Tensor(np.ones((2, 1))))):
        with pytest.raises(TypeError) as info:
            make(value)
        assert str(info.value).startswith("Tensor: expected") and fragment in str(info.value)


def test_an_object_array_of_numbers_still_converts():
    t = Tensor(np.array([1, 2.5], dtype=object))
    assert t.dtype == np.float32 and t.data.tolist() == [1.0, 2.5]


def test_linear_with_zero_input_features_is_the_bias(backend):
    x = Tensor(np.zeros((2, 0), np.float32), requires_grad=True)
    w = Tensor(np.zeros((0, 3), np.float32), requires_grad=True)
    b = Tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    y = F.linear(x, w, b, activation="relu")
    np.testing.assert_array_equal(y.data, [[1, 2, 3], [1, 2, 3]])
    y.sum().backward()
    assert x.grad.shape == (2, 0) and w.grad.shape == (0, 3)
    np.testing.assert_array_equal(b.grad, [2, 2, 2])
    assert Dense(3)(np.zeros((4, 0), np.float32)).shape == (4, 3)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_running_statistics_are_float_arrays(backend, training):
    x = Tensor(np.ones((4, 3), np.float32))
    ones, zeros = np.ones(3, np.float32), np.zeros(3, np.float32)
    for mean, var, got in [(np.zeros(3, np.int64), ones, "int64"), (zeros, [1, 1, 1], "list")]:
        with pytest.raises(TypeError) as info:
            F.batch_norm(x, ones, zeros, mean, var, training=training)
        message = str(info.value)
        assert message.startswith("batch_norm: expected running_") and "float numpy array" in message and got in message


@pytest.mark.parametrize("training", [True, False])
def test_zero_channel_batch_norm_is_empty_on_both_backends(backend, training):
    empty = np.zeros(0, np.float32)
    x = Tensor(np.ones((4, 0), np.float32), requires_grad=True)
    y = F.batch_norm(x, Tensor(empty, requires_grad=True), Tensor(empty.copy(), requires_grad=True), empty.copy(),
                     empty.copy(), training=training)
    assert y.shape == (4, 0)
    y.sum().backward()
    assert x.grad.shape == (4, 0)


@pytest.mark.parametrize("op", ["global_avg_pool2d", "global_max_pool2d"])
@pytest.mark.parametrize("shape", [(2, 0, 3, 4), (2, 3, 0, 4)])
def test_global_pooling_over_an_empty_image_is_an_error(op, shape):
    with pytest.raises(ValueError) as info:
        getattr(F, op)(Tensor(np.zeros(shape, np.float32)))
    assert str(info.value) == f"{op}: expected a non-empty height and width to pool over, got shape {shape}"


def test_global_pooling_over_no_channels_or_images_is_fine():
    assert F.global_avg_pool2d(Tensor(np.zeros((2, 3, 3, 0), np.float32))).shape == (2, 0)
    assert F.global_max_pool2d(Tensor(np.zeros((0, 3, 3, 2), np.float32))).shape == (0, 2)
