"""MaxPooling2D, AveragePooling2D and the global poolings."""
import numpy as np
import pytest

from layer_helper import check_layer
from nnkit.layers import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D])
@pytest.mark.parametrize("kwargs,input_shape,out", [
    ({}, (4, 6, 2), (None, 2, 3, 2)),
    (dict(pool_size=3, strides=2, padding="same"), (5, 5, 2), (None, 3, 3, 2)),
    (dict(pool_size=(2, 3), strides=1), (4, 4, 1), (None, 3, 2, 1)),
])
def test_pooling_contract(cls, kwargs, input_shape, out):
    check_layer(cls, kwargs, input_shape, out, 0)


@pytest.mark.parametrize("cls", [GlobalAveragePooling2D, GlobalMaxPooling2D])
@pytest.mark.parametrize("keepdims,out", [(False, (None, 3)), (True, (None, 1, 1, 3))])
def test_global_pooling_contract(cls, keepdims, out):
    check_layer(cls, dict(keepdims=keepdims), (3, 4, 3), out, 0)


def test_pooling_values():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    assert np.array_equal(MaxPooling2D()(x).numpy()[0, :, :, 0], [[5, 7], [13, 15]])
    assert np.array_equal(AveragePooling2D()(x).numpy()[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    assert np.allclose(GlobalAveragePooling2D()(x).numpy(), [[7.5]])
    assert np.allclose(GlobalMaxPooling2D()(x).numpy(), [[15]])
