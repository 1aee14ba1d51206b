"""Shared checks of the interop tests (ONNX export and import, Keras import)."""
import numpy as np

# The accuracy demand: max |difference| <= 1e-4 * max(1, max |reference|), relative L2 <= 2e-5.
MAX_ABS, MAX_REL_L2 = 1e-4, 2e-5


def differences(reference, got):
    """(max |difference| / max(1, max |reference|), relative L2 difference) in float64."""
    reference, got = np.asarray(reference, np.float64), np.asarray(got, np.float64)
    assert reference.shape == got.shape, f"shapes differ: {reference.shape} vs {got.shape}"
    scaled = np.abs(got - reference).max() / max(1.0, np.abs(reference).max())
    rel_l2 = np.linalg.norm(got - reference) / max(np.linalg.norm(reference), 1e-30)
    return scaled, rel_l2


def assert_close(reference, got, what, rel_l2=MAX_REL_L2):
    scaled, rel = differences(reference, got)
    assert scaled <= MAX_ABS and rel <= rel_l2, \
        f"{what}: max difference {scaled:.3g} (limit {MAX_ABS}), relative L2 {rel:.3g} (limit {rel_l2})"
    return scaled, rel


def randomize_batch_norm(model, seed=0):
    """Non-trivial moving statistics, scale and offset in every BatchNormalization of ``model``."""
    rng = np.random.default_rng(seed)
    for layer in model._walk():
        if type(layer).__name__ == "BatchNormalization":
            n = layer.moving_mean.data.shape[0]
            layer.moving_mean.data[...] = rng.normal(0, 0.5, n)
            layer.moving_variance.data[...] = rng.uniform(0.5, 2.0, n)
            if layer.scale:
                layer.gamma.data[...] = rng.uniform(0.5, 1.5, n)
            if layer.center:
                layer.beta.data[...] = rng.normal(0, 0.2, n)
    return model


def images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
