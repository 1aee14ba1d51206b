"""The loss tests' oracle: float64 NumPy formulas, and the check of a loss against one."""
import numpy as np

from nnkit import Tensor


def softmax(z):
    """Softmax over the last axis, shifted by the row maximum."""
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def assert_loss_matches(loss, y_true, y_pred, expected):
    """The per-sample values (``call``) and the default mean reduction equal the formula's ``expected``."""
    np.testing.assert_allclose(loss.call(y_true, Tensor(y_pred)).numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss(y_true, Tensor(y_pred)).item(), expected.mean(), rtol=1e-10)
