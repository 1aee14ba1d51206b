"""Nadam, Adamax, Adadelta, Lion, Ftrl over several steps against Keras 3's update rules written out in
float64 NumPy; the moving average of the weights (use_ema) and SwapEMAWeights; configs; bad arguments."""
import numpy as np
import pytest

import nnkit
from nnkit import Tensor, callbacks, layers, optimizers

rng = np.random.default_rng(7)
STEPS = 4
W0 = rng.standard_normal((3, 4))
GRADS = [rng.standard_normal((3, 4)) for _ in range(STEPS)]


def run(opt):
    w = Tensor(W0.copy(), requires_grad=True, name="w")
    for g in GRADS:
        opt.apply_gradients([(g, w)])
    return w.data


def keras_nadam(lr=0.002, b1=0.9, b2=0.999, eps=1e-7):
    w, m, v, u_product = W0.copy(), 0 * W0, 0 * W0, 1.0
    for it, g in enumerate(GRADS):
        t = it + 1
        u_t, u_t1 = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_product *= u_t  # Keras updates the product before the step
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_t1 * m / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
        w = w - m_hat * lr / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return w


def keras_adamax(lr=0.002, b1=0.9, b2=0.999, eps=1e-7):
    w, m, u = W0.copy(), 0 * W0, 0 * W0
    for it, g in enumerate(GRADS):
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        w = w - lr * m / ((1 - b1 ** (it + 1)) * (u + eps))
    return w


def keras_adadelta(lr=1.0, rho=0.95, eps=1e-7):
    w, ag, ad = W0.copy(), 0 * W0, 0 * W0
    for g in GRADS:
        ag = rho * ag + (1 - rho) * g * g
        delta = -np.sqrt(ad + eps) * g / np.sqrt(ag + eps)
        ad = rho * ad + (1 - rho) * delta * delta
        w = w + lr * delta
    return w


def keras_lion(lr=0.001, b1=0.9, b2=0.99):
    w, m = W0.copy(), 0 * W0
    for g in GRADS:
        w = w - lr * np.sign(m * b1 + g * (1 - b1))
        m = m * b2 + g * (1 - b2)
    return w


def keras_ftrl(lr=0.1, power=-0.5, init=0.1, l1=0.01, l2=0.02, shrink=0.03, beta=0.1):
    w, acc, linear = W0.copy(), np.full_like(W0, init), 0 * W0
    for g in GRADS:
        l2_total = l2 + beta / (2 * lr)
        new = acc + g * g
        linear = linear + (g + 2 * shrink * w) - (new ** -power - acc ** -power) / lr * w
        w = (np.clip(linear, -l1, l1) - linear) / (new ** -power / lr + 2 * l2_total)
        acc = new
    return w


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("opt,expected", [
    (lambda: optimizers.Nadam(0.002), keras_nadam),
    (lambda: optimizers.Adamax(0.002), keras_adamax),
    (lambda: optimizers.Adadelta(1.0), keras_adadelta),
    (lambda: optimizers.Lion(), keras_lion),
    (lambda: optimizers.Ftrl(0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.02,
                             l2_shrinkage_regularization_strength=0.03, beta=0.1), keras_ftrl),
    (lambda: optimizers.Ftrl(0.1, learning_rate_power=-0.7, l1_regularization_strength=0.01,
                             l2_regularization_strength=0.02, l2_shrinkage_regularization_strength=0.03, beta=0.1),
     lambda: keras_ftrl(power=-0.7)),
], ids=["nadam", "adamax", "adadelta", "lion", "ftrl", "ftrl-power"])
def test_steps_match_keras(backend, opt, expected):
    old = nnkit.backend.get_backend()
    nnkit.backend.set_backend(backend)
    try:
        np.testing.assert_allclose(run(opt()), expected(), rtol=1e-12, atol=1e-14)
    finally:
        nnkit.backend.set_backend(old)


@pytest.mark.parametrize("cls", [optimizers.Nadam, optimizers.Adamax, optimizers.Adadelta, optimizers.Lion,
                                 optimizers.Ftrl])
def test_defaults_names_config_and_state(cls):
    assert type(optimizers.get(cls.__name__.lower())) is cls
    opt = cls(use_ema=True, ema_momentum=0.9)
    cfg = opt.get_config()
    assert cls.from_config(cfg).get_config() == cfg and cfg["use_ema"] and cfg["ema_momentum"] == 0.9
    assert cls().learning_rate == 0.001  # Keras 3's default for all five
    run(opt)
    again = cls(use_ema=True, ema_momentum=0.9)
    again.set_state(opt.get_state())  # the EMA and the slots travel with the state
    w1, w2 = Tensor(W0.copy(), requires_grad=True, name="w"), Tensor(W0.copy(), requires_grad=True, name="w")
    opt.apply_gradients([(GRADS[0], w1)])
    again.apply_gradients([(GRADS[0], w2)])
    np.testing.assert_array_equal(w1.data, w2.data)
    np.testing.assert_array_equal(opt.slots["ema"]["w"], again.slots["ema"]["w"])


def test_ema_follows_keras():
    opt = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.8)
    w = Tensor(W0.copy(), requires_grad=True, name="w")
    values, ema = [], None
    for i, g in enumerate(GRADS):
        opt.apply_gradients([(g, w)])
        values.append(w.data.copy())
        ema = w.data.copy() if i == 0 else 0.8 * ema + 0.2 * w.data  # the first step copies the weights
    np.testing.assert_allclose(opt.slots["ema"]["w"], ema, rtol=1e-14)
    over = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=2)
    w = Tensor(W0.copy(), requires_grad=True, name="w")
    over.apply_gradients([(GRADS[0], w)])
    first = w.data.copy()
    over.apply_gradients([(GRADS[1], w)])
    np.testing.assert_allclose(w.data, 0.8 * first + 0.2 * (first - 0.1 * GRADS[1]), rtol=1e-14)  # overwritten


def test_swap_ema_weights_for_evaluation():
    nnkit.set_seed(0)
    model = nnkit.Sequential([layers.Input((4,)), layers.Dense(1)])
    opt = optimizers.Adam(0.05, use_ema=True, ema_momentum=0.5)
    model.compile(opt, "mse")
    x, y = rng.standard_normal((32, 4)), rng.standard_normal((32, 1))
    seen = []

    class Spy(callbacks.Callback):
        def on_test_batch_begin(self, batch, logs=None):
            seen.append(model.layers[-1].kernel.data.copy())

    model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x, y),
              callbacks=[callbacks.SwapEMAWeights(), Spy()])
    kernel = model.layers[-1].kernel
    trained = kernel.data.copy()
    ema = opt.slots["ema"][kernel.name].copy()
    assert not np.allclose(trained, ema)
    np.testing.assert_array_equal(seen[-1], ema)  # validation ran on the averages
    swap = callbacks.SwapEMAWeights()
    ema_loss = model.evaluate(x, y, verbose=0, callbacks=[swap])
    np.testing.assert_array_equal(kernel.data, trained)  # and the trained weights came back
    opt.swap_ema_weights(model.trainable_weights)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(ema_loss)
    with pytest.raises(ValueError, match="SwapEMAWeights: the model's optimizer must be built with use_ema=True"):
        model.compile(optimizers.Adam(), "mse")
        model.evaluate(x, y, verbose=0, callbacks=[callbacks.SwapEMAWeights()])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Lion: beta_1 must be in \(0, 1\]"):
        optimizers.Lion(beta_1=0)
    with pytest.raises(ValueError, match="Ftrl: learning_rate_power must be <= 0, got 0.5"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match="Ftrl: l1_regularization_strength must be >= 0"):
        optimizers.Ftrl(l1_regularization_strength=-1)
    with pytest.raises(ValueError, match=r"Nadam: beta_2 must be \(0.0, 1.0\), got 1.5"):
        optimizers.Nadam(beta_2=1.5)
    with pytest.raises(ValueError, match="Adam: ema_overwrite_frequency must be a positive integer"):
        optimizers.Adam(use_ema=True, ema_overwrite_frequency=0)
    with pytest.raises(ValueError, match="swap_ema_weights needs an optimizer built with use_ema=True"):
        optimizers.Adam().swap_ema_weights([])
