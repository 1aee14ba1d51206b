"""Float64 NumPy formulas that several tests use as their oracle."""
import numpy as np


def softmax(z):
    """Softmax over the last axis, shifted by the row maximum."""
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))
