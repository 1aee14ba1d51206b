"""NormalizedDense: the Layer contract, cosines against NumPy, and float64
gradient checks of a margin loss through it with respect to the embeddings
and the kernel, including an embedding lying exactly on its class centre."""
import numpy as np
import pytest

import nnkit
from gradcheck import check_grad
from layer_helper import check_layer
from nnkit import Tensor
from nnkit import functional as F
from nnkit.layers import NormalizedDense


def test_normalized_dense_contract():
    check_layer(NormalizedDense, dict(units=3), (4,), (None, 3), 12)


def test_cosines_against_numpy():
    layer = NormalizedDense(5, name="head")
    x = np.random.default_rng(0).standard_normal((6, 4))
    y = layer(Tensor(x)).numpy()
    w = layer.kernel.data
    expected = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=0, keepdims=True))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-14)
    assert layer.kernel.shape == (4, 5) and layer.kernel.name == "head/kernel" and len(layer.weights) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"NormalizedDense .*expected units to be a positive integer below 2\*\*62, got 0"):
        NormalizedDense(0)
    with pytest.raises(ValueError, match="kernel_initializer"):
        NormalizedDense(3, kernel_initializer="nope")


MARGINS = [dict(margin="combined", m3=0.35), dict(margin="arcface", m2=0.5), dict(margin="sphereface", m1=4),
           dict(margin="combined", m1=0.9, m2=0.4, m3=0.15)]


@pytest.mark.parametrize("margin", MARGINS, ids=["cosface", "arcface", "sphereface", "combined"])
def test_margin_loss_gradient_through_normalized_dense(margin):
    """d loss / d embeddings and d loss / d kernel by central differences (float64)."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    labels = np.array([0, 1, 2, 1, 0])

    def loss(x, w):
        layer_out = F.linear(nnkit.layers.normalized_dense.l2_normalize(x),
                             nnkit.layers.normalized_dense.l2_normalize(w, axis=0))
        return F.margin_cross_entropy(layer_out, labels, 8.0, reduction="none", **margin)

    check_grad(loss, x, w, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss", [nnkit.losses.ArcFace(), nnkit.losses.CosFace(), nnkit.losses.SphereFace(),
                                  nnkit.losses.CombinedMargin(m1=0.9, m2=0.4, m3=0.15)], ids=lambda l: l.name)
def test_embedding_on_its_class_centre_has_finite_gradients(loss):
    """The case where other libraries return NaN: an embedding equal to its class centre (cos = 1),
    another opposite it (cos = -1).  Float32 gradients are finite and agree with float64's."""
    grads = {}
    for dtype in (np.float32, np.float64):
        layer = NormalizedDense(3, dtype=dtype)
        layer.build((None, 4))
        layer.kernel.data[...] = np.random.default_rng(0).standard_normal((4, 3))
        centre = layer.kernel.data[:, 1].copy()
        x = Tensor(np.stack([centre, -centre, np.ones(4, dtype)]), requires_grad=True)
        cos = layer(x)
        assert abs(abs(cos.numpy()[:2, 1]) - 1).max() < 1e-6
        out = loss(np.array([1, 1, 0]), cos)
        out.backward()
        assert np.isfinite(out.numpy())
        assert np.all(np.isfinite(x.grad)) and np.all(np.isfinite(layer.kernel.grad))
        grads[dtype] = x.grad, layer.kernel.grad
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * loss.s)  # float32 rounding times dz <= 1/3.5e-4


def test_save_and_load_keep_the_cosines(tmp_path):
    model = nnkit.Sequential([nnkit.Input((6,)), nnkit.layers.Dense(4, name="embedding"),
                              NormalizedDense(3, name="head")])
    model.compile(optimizer="sgd", loss=nnkit.losses.ArcFace(s=16.0, m=0.3))
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    model.fit(x, np.arange(8) % 3, epochs=1, verbose=0)
    path = tmp_path / "arc.nnk"
    model.save(path)
    loaded = nnkit.load_model(path)
    assert isinstance(loaded.get_layer("head"), NormalizedDense)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.loss.get_config() == model.loss.get_config()
