"""BatchNormalization: Keras defaults, parameter split, modes and frozen behaviour."""
import numpy as np
import pytest

from layer_helper import check_layer
from nnkit.layers import BatchNormalization


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("kwargs,params", [({}, 12), (dict(center=False), 9), (dict(scale=False, center=False), 6)])
def test_batchnorm_contract(kwargs, params, training):
    check_layer(BatchNormalization, kwargs, (2, 2, 3), (None, 2, 2, 3), params, training=training,
                grad_rtol=1e-4, grad_atol=1e-6)


def test_batchnorm_dense_input():
    check_layer(BatchNormalization, {}, (4,), (None, 4), 16, training=True, grad_rtol=1e-4, grad_atol=1e-6)


def test_keras_defaults_and_weight_split():
    bn = BatchNormalization()
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.99, 1e-3, True, True)
    bn.build((None, 8, 8, 5))
    assert [w.name for w in bn.weights] == ["batch_normalization/gamma", "batch_normalization/beta",
                                            "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    assert [w.name for w in bn.trainable_weights] == ["batch_normalization/gamma", "batch_normalization/beta"]
    assert sum(w.size for w in bn.non_trainable_weights) == 10
    assert not bn.moving_mean.requires_grad and bn.gamma.requires_grad


def test_training_uses_batch_statistics_and_updates_moving_ones():
    bn = BatchNormalization(momentum=0.5)
    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 4)).astype(np.float32)
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.data, 0.5 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.data, 0.5 + 0.5 * x.var(axis=0), rtol=1e-4)


def test_inference_uses_moving_statistics_without_updating():
    bn = BatchNormalization()
    x = np.random.default_rng(0).normal(3.0, 2.0, (16, 4)).astype(np.float32)
    y = bn(x).numpy()
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-5)
    assert np.all(bn.moving_mean.data == 0)


def test_frozen_batchnorm_runs_in_inference_mode():
    bn = BatchNormalization()
    x = np.random.default_rng(0).normal(3.0, 2.0, (16, 4)).astype(np.float32)
    bn(x)
    bn.trainable = False
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-5)
    assert np.all(bn.moving_mean.data == 0)
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    assert not bn.gamma.requires_grad
