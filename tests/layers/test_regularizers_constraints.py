"""nnkit.regularizers and nnkit.constraints (Keras 3 formulas) and their wiring into layers: penalties in
``losses`` and in the training loss, activity penalties per batch, constraints after each update, configs."""
import numpy as np
import pytest
from gradcheck import check_grad

import nnkit
from nnkit import Tensor, constraints, layers, optimizers, regularizers

rng = np.random.default_rng(0)
W = rng.standard_normal((4, 3))


def orthogonal_np(w, factor, mode):
    u = w if mode == "rows" else w.T
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    p = u @ u.T
    n = len(p)
    return factor * 0.5 * np.abs(p * (1 - np.eye(n))).sum() / (n * (n - 1) / 2)


@pytest.mark.parametrize("reg,expected", [
    (regularizers.L1(0.3), 0.3 * np.abs(W).sum()),
    (regularizers.L2(0.2), 0.2 * (W ** 2).sum()),
    (regularizers.L1L2(0.1, 0.05), 0.1 * np.abs(W).sum() + 0.05 * (W ** 2).sum()),
    (regularizers.L1L2(), 0.0),
    (regularizers.OrthogonalRegularizer(0.4), orthogonal_np(W, 0.4, "rows")),
    (regularizers.OrthogonalRegularizer(0.4, mode="columns"), orthogonal_np(W, 0.4, "columns")),
], ids=["l1", "l2", "l1l2", "l1l2-zero", "orthogonal-rows", "orthogonal-columns"])
def test_regularizer_formulas_gradients_and_config(reg, expected):
    assert reg(Tensor(W)).item() == pytest.approx(expected, rel=1e-12)
    check_grad(lambda w: reg(w), W + 0.05)  # away from |w| = 0 kinks
    again = regularizers.get(regularizers.serialize(reg))
    assert type(again) is type(reg) and again.get_config() == reg.get_config()


def test_regularizer_defaults_and_names():
    assert regularizers.get("l1").l1 == 0.01 and regularizers.get("l2").l2 == 0.01
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get("orthogonal_regularizer").get_config() == {"factor": 0.01, "mode": "rows"}
    with pytest.raises(ValueError, match="unknown regularizer 'l3'; valid names: l1, l1_l2, l2"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="L2: l2 must be a non-negative number, got -1.0"):
        regularizers.L2(-1)
    with pytest.raises(ValueError, match=r"OrthogonalRegularizer: expected a 2-D weight, got shape \(3, 3, 2\)"):
        regularizers.OrthogonalRegularizer()(Tensor(np.ones((3, 3, 2))))


@pytest.mark.parametrize("constraint,expected", [
    (constraints.MaxNorm(1.5), lambda w, n: w * np.clip(n, 0, 1.5) / (1e-7 + n)),
    (constraints.MaxNorm(1.5, axis=1), None),
    (constraints.NonNeg(), lambda w, n: np.maximum(w, 0)),
    (constraints.UnitNorm(), lambda w, n: w / (1e-7 + n)),
    (constraints.MinMaxNorm(0.5, 1.2, rate=0.7), lambda w, n: w * (0.7 * np.clip(n, 0.5, 1.2) + 0.3 * n) / (1e-7 + n)),
], ids=["max_norm", "max_norm-axis1", "non_neg", "unit_norm", "min_max_norm"])
def test_constraint_formulas(constraint, expected):
    w = W * 2
    axis = getattr(constraint, "axis", 0)
    norms = np.sqrt((w ** 2).sum(axis, keepdims=True))
    if expected is None:
        expected = lambda w, n: w * np.clip(n, 0, 1.5) / (1e-7 + n)  # noqa: E731
    np.testing.assert_allclose(constraint(w), expected(w, norms), rtol=1e-14)
    assert type(constraints.get(constraints.serialize(constraint))) is type(constraint)
    assert type(constraints.get(constraints.serialize(constraint).get("class_name"))) is type(constraint)


def test_dense_kernel_and_bias_penalties_enter_the_loss():
    nnkit.set_seed(0)
    dense = layers.Dense(3, kernel_regularizer=regularizers.L2(0.1), bias_regularizer="l1")
    model = nnkit.Sequential([layers.Input((4,)), dense])
    model.compile("sgd", "mse")
    k, b = dense.kernel.data.copy(), dense.bias.data + 0.5
    dense.bias.data[...] = b
    penalties = [p.item() for p in model.losses]
    assert penalties == pytest.approx([0.1 * (k ** 2).sum(), 0.01 * np.abs(b).sum()])
    x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32)
    mse = ((x @ k + b - y) ** 2).mean()
    # evaluate's loss includes the penalties, as Keras's logs do
    assert model.evaluate(x, y, verbose=0) == pytest.approx(mse + sum(penalties), rel=1e-5)
    # and the gradient of the penalty reaches the kernel: one SGD step moves it by lr * (dmse + 0.2 k)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    grad_mse = 2 * x.T @ (x @ k + b - y) / y.size
    np.testing.assert_allclose(dense.kernel.data, k - 0.01 * (grad_mse + 0.2 * k), rtol=1e-4, atol=1e-6)


def test_activity_regularizer_is_per_batch_and_from_the_last_call():
    dense = layers.Dense(2, activity_regularizer=regularizers.L1(0.5), kernel_initializer="ones")
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = dense(x)
    assert [p.item() for p in dense.losses] == pytest.approx([0.5 * np.abs(out.numpy()).sum() / 3])
    dense(x[:1])
    assert len(dense.losses) == 1  # replaced by the last call's, not accumulated
    model = nnkit.Sequential([layers.Input((2,)), dense, layers.Dense(1)])
    model(x)
    assert len(model.losses) == 1 and model.losses[0].item() == pytest.approx(0.5 * np.abs(x @ np.ones((2, 2))).sum() / 3)


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(3, 3, kernel_regularizer="l2", bias_regularizer="l1", kernel_constraint="non_neg"),
    lambda: layers.DepthwiseConv2D(3, depthwise_regularizer="l2", depthwise_constraint="non_neg"),
    lambda: layers.SeparableConv2D(3, 3, depthwise_regularizer="l2", pointwise_regularizer="l1",
                                   pointwise_constraint="non_neg"),
    lambda: layers.Dense(3, kernel_regularizer="l2", kernel_constraint="non_neg"),
], ids=["conv2d", "depthwise", "separable", "dense"])
def test_conv_layers_take_keras_arguments_and_constraints_apply_after_updates(make):
    nnkit.set_seed(1)
    layer = make()
    shape = (2, 4) if isinstance(layer, layers.Dense) else (2, 6, 6, 2)
    model = nnkit.Sequential([layers.Input(shape[1:]), layer])
    model.compile(optimizers.SGD(0.5), "mse")
    x = rng.standard_normal(shape).astype(np.float32)
    y = model.predict(x, verbose=0) + 3.0
    assert len(model.losses) >= 1
    model.fit(x, y, epochs=2, verbose=0)
    constrained = [w for w in layer.weights if constraints.attached(w) is not None]
    assert constrained and all(np.all(w.data >= 0) for w in constrained)
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == {**config, "name": again.name}


def test_bad_arguments_name_the_layer():
    with pytest.raises(ValueError, match=r"Dense 'bad': kernel_regularizer: unknown regularizer 'l3'"):
        layers.Dense(2, kernel_regularizer="l3", name="bad")
    with pytest.raises(ValueError, match=r"bias_constraint: unknown constraint 'positive'"):
        layers.Dense(2, bias_constraint="positive")
    with pytest.raises(TypeError, match="unexpected keyword argument.*kernel_constraint"):
        layers.Flatten(kernel_constraint="non_neg")
