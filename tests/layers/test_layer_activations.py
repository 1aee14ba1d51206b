"""ReLU, ReLU6, LeakyReLU, ELU, Softmax layers."""
import numpy as np
import pytest

from layer_helper import check_layer
from nnkit import Tensor
from nnkit.layers import ELU, LeakyReLU, ReLU, ReLU6, Softmax

X = np.array([[-8.0, -2.0, -0.5, 0.5, 2.0, 7.0]], np.float32)


@pytest.mark.parametrize("cls,kwargs", [
    (ReLU, {}), (ReLU, dict(max_value=1.0)), (ReLU, dict(negative_slope=0.1, threshold=0.3)),
    (ReLU, dict(max_value=6.0)), (ReLU6, {}), (LeakyReLU, {}), (LeakyReLU, dict(negative_slope=0.2)),
    (ELU, {}), (ELU, dict(alpha=0.5)), (Softmax, {}), (Softmax, dict(axis=1)),
])
def test_activation_layer_contract(cls, kwargs):
    check_layer(cls, kwargs, (3, 4), (None, 3, 4), 0)


def test_values():
    assert np.allclose(ReLU()(X).numpy(), np.maximum(X, 0))
    assert np.allclose(ReLU(6.0)(X).numpy(), np.clip(X, 0, 6))
    assert np.allclose(ReLU6()(X).numpy(), np.clip(X, 0, 6))
    leaky = ReLU(negative_slope=0.1, threshold=1.0, max_value=5.0)(X).numpy()
    assert np.allclose(leaky, np.where(X >= 1, np.minimum(X, 5), 0.1 * (X - 1)))
    assert np.allclose(ELU()(X).numpy(), np.where(X > 0, X, np.expm1(X)), atol=1e-6)
    s = Softmax()(X).numpy()
    assert np.allclose(s.sum(axis=-1), 1) and np.all(np.diff(s) > 0)


def test_leaky_relu_defaults_are_keras_and_alpha_alias():
    from nnkit import activations
    assert LeakyReLU().negative_slope == 0.3  # keras.layers.LeakyReLU
    assert np.allclose(LeakyReLU()(X).numpy(), np.where(X > 0, X, 0.3 * X))
    # keras.activations.leaky_relu and the string "leaky_relu": 0.2
    assert np.allclose(activations.get("leaky_relu")(Tensor(X)).numpy(), np.where(X > 0, X, 0.2 * X))
    assert LeakyReLU(alpha=0.3).get_config()["negative_slope"] == pytest.approx(0.3)
