import numpy as np
import pytest

import nnkit
from nnkit import landscape
from nnkit.layers import BatchNormalization, Conv2D, Dense, Flatten, Input

rng = np.random.default_rng(0)


def conv_net(seed=0):
    nnkit.set_seed(seed)
    model = nnkit.Sequential([Input((6, 6, 2), dtype="float64"), Conv2D(3, 3, activation="relu"),
                              BatchNormalization(), Flatten(), Dense(4)])
    model.compile(optimizer="sgd", loss="mse")
    bn = model.layers[1]
    bn.moving_mean.data[...] = rng.normal(size=3)
    bn.moving_variance.data[...] = rng.uniform(0.5, 2, 3)
    return model


def linear_model():
    model = nnkit.Sequential([Input((5,), dtype="float64"), Dense(3, bias_initializer="glorot_uniform")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_random_direction_is_filter_normalised():
    model = conv_net()
    d = landscape.random_direction(model, seed=3)
    assert [a.shape for a in d] == [w.shape for w in model.trainable_weights]
    for a, w in zip(d, model.trainable_weights):
        if w.ndim > 1:  # each filter (last axis) as long as the model's
            axes = tuple(range(w.ndim - 1))
            np.testing.assert_allclose(np.sqrt((a ** 2).sum(axis=axes)), np.sqrt((w.data ** 2).sum(axis=axes)),
                                       rtol=1e-8)
        else:
            assert not a.any()
    again = landscape.random_direction(model, seed=3)
    for a, b in zip(d, again):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(d[0], landscape.random_direction(model, seed=4)[0])


def test_random_direction_options():
    model = conv_net()
    states = landscape.random_direction(model, dir_type="states", ignore=None, norm="layer")
    assert [a.shape for a in states] == [w.shape for w in model.weights]
    for a, w in zip(states, model.weights):
        if w.ndim <= 1:
            np.testing.assert_array_equal(a, w.data)
        else:
            np.testing.assert_allclose(np.linalg.norm(a), np.linalg.norm(w.data), rtol=1e-8)


def test_target_direction():
    a, b = conv_net(0), conv_net(1)
    d = landscape.target_direction(a, b)
    for x, wa, wb in zip(d, a.weights, b.weights):
        np.testing.assert_allclose(x, wb.data - wa.data)


def test_surface_matches_direct_evaluation():
    model = linear_model()
    W, bias = (w.data.copy() for w in model.trainable_weights)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 3))
    d1, d2 = landscape.random_direction(model, seed=1), landscape.random_direction(model, seed=2, ignore=None)
    xs, ys = np.array([-1.0, 0.0, 0.5]), np.array([-0.5, 1.0])
    Z = landscape.surface(model, [d1, d2], (xs, ys), x, y, batch_size=3, progress=False)
    assert Z.shape == (3, 2)
    for i, a in enumerate(xs):
        for j, b in enumerate(ys):
            Wp, bp = W + a * d1[0] + b * d2[0], bias + a * d1[1] + b * d2[1]
            np.testing.assert_allclose(Z[i, j], np.mean((x @ Wp + bp - y) ** 2), rtol=1e-12)
    line = landscape.surface(model, [d1], xs, x, y, progress=False)
    np.testing.assert_allclose(line, [np.mean((x @ (W + a * d1[0]) + bias - y) ** 2) for a in xs], rtol=1e-12)


def test_weights_restored_bit_for_bit_even_when_interrupted(monkeypatch):
    model = conv_net()
    before = [w.copy() for w in model.get_weights()]
    x, y = rng.normal(size=(4, 6, 6, 2)), rng.normal(size=(4, 4))
    d = landscape.random_direction(model, seed=1, dir_type="states", ignore=None)
    grid = np.linspace(-0.4, 0.4, 3)  # moving variances stay positive
    landscape.surface(model, [d, d], (grid, grid), x, y, progress=False)
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return {"loss": 0.0}

    monkeypatch.setattr(model, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        landscape.surface(model, [d], np.linspace(0.5, 1, 4), x, y, progress=False)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        landscape.interpolate(model, conv_net(1), x, y, [0.5, 1.0], progress=False)
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


def test_interpolate_includes_batch_norm_statistics():
    a, b = conv_net(0), conv_net(1)
    x, y = rng.normal(size=(5, 6, 6, 2)), rng.normal(size=(5, 4))
    before = [w.copy() for w in a.get_weights()]
    Z = landscape.interpolate(a, b, x, y, [0.0, 0.3, 1.0], progress=False)
    mid = conv_net(2)
    mid.set_weights([0.7 * wa + 0.3 * wb for wa, wb in zip(a.get_weights(), b.get_weights())])
    expected = [a.evaluate(x, y, verbose=0), mid.evaluate(x, y, verbose=0), b.evaluate(x, y, verbose=0)]
    np.testing.assert_allclose(Z, expected, rtol=1e-12)
    for w, w0 in zip(a.get_weights(), before):
        np.testing.assert_array_equal(w, w0)


def test_plots_write_png(tmp_path):
    pytest.importorskip("matplotlib")
    xs = np.linspace(-1, 1, 5)
    Z = np.add.outer(xs ** 2, 2 * xs ** 2)
    for path in (landscape.plot_contour(xs, xs, Z, tmp_path / "c.png"),
                 landscape.plot_1d(xs, {"a": xs ** 2, "b": xs ** 4}, tmp_path / "l.png"),
                 landscape.plot_1d(xs, xs ** 2, tmp_path / "one.png", logy=True)):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"plot_contour: expected Z of shape .*\(5, 5\)"):
        landscape.plot_contour(xs, xs, Z[:3], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="plot_1d: curve 'a' has shape"):
        landscape.plot_1d(xs, {"a": xs[:2]}, tmp_path / "bad.png")


@pytest.mark.parametrize("call,message", [
    (lambda m: landscape.random_direction(nnkit.Sequential([Dense(2)])), "random_direction: .* not built"),
    (lambda m: landscape.random_direction(m, norm="unit"), "norm must be one of"),
    (lambda m: landscape.random_direction(m, dir_type="all"), "dir_type must be 'weights'"),
    (lambda m: landscape.surface(m, [[np.zeros(3)]], [0.0], None, None), "surface: each direction must have"),
    (lambda m: landscape.surface(m, [landscape.random_direction(m)], [[0.0]], None, None), "1-D array"),
    (lambda m: landscape.surface(m, [landscape.random_direction(m)] * 3, [0.0], None, None), "one or two"),
    (lambda m: landscape.target_direction(m, conv_net()), "target_direction: the models' weights differ"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(linear_model())
