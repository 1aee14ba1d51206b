"""Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""
import numpy as np
import pytest

from layer_helper import check_layer
from nnkit.layers import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract


@pytest.mark.parametrize("cls,n", [(Add, 2), (Add, 3), (Subtract, 2), (Multiply, 3), (Average, 2),
                                   (Maximum, 2), (Minimum, 3)])
def test_elementwise_merge_contract(cls, n):
    check_layer(cls, {}, [(3, 2)] * n, (None, 3, 2), 0)


def test_elementwise_broadcasts_size_one_as_keras():
    check_layer(Multiply, {}, [(3, 2), (1, 2)], (None, 3, 2), 0)


@pytest.mark.parametrize("axis,shapes,out", [
    (-1, [(2, 2, 1), (2, 2, 3)], (None, 2, 2, 4)),
    (1, [(1, 3), (2, 3), (1, 3)], (None, 4, 3)),
])
def test_concatenate_contract(axis, shapes, out):
    check_layer(Concatenate, dict(axis=axis), shapes, out, 0)


def test_merge_values():
    a, b = np.ones((2, 3), np.float32), np.full((2, 3), 3.0, np.float32)
    assert np.allclose(Add()([a, b]).numpy(), 4)
    assert np.allclose(Subtract()([a, b]).numpy(), -2)
    assert np.allclose(Multiply()([a, b]).numpy(), 3)
    assert np.allclose(Average()([a, b]).numpy(), 2)
    assert np.allclose(Maximum()([a, b]).numpy(), 3)
    assert np.allclose(Minimum()([a, b]).numpy(), 1)
    assert Concatenate()([a, b]).shape == (2, 6)
