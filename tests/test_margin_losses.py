"""ArcFace, CosFace, SphereFace, CombinedMargin, NormalizedSoftmax: values
against float64 NumPy formulas, reductions and sample_weight as every nnkit
loss, gradients by central differences, configs, and bad arguments."""

import numpy as np
import pytest

import nnkit
from gradcheck import check_grad
from nnkit import Tensor
from nnkit.losses import ArcFace, CombinedMargin, CosFace, NormalizedSoftmax, SphereFace, SparseCategoricalCrossentropy


def per_sample(cos, labels, s, z):
    """Float64 NumPy: -log softmax(s * logits)[label] with the label's cosine replaced by z(theta)."""
    logits = s * cos.copy()
    rows = np.arange(len(labels))
    logits[rows, labels] = s * z(np.arccos(cos[rows, labels]))
    top = logits.max(axis=1, keepdims=True)
    return (top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))) - logits[rows, labels]


def arcface_z(m):
    return lambda t: np.where(t + m <= np.pi, np.cos(t + m), np.cos(t) - m * np.sin(m))


def sphere_z(m):
    return lambda t: (-1.0) ** np.floor(m * t / np.pi) * np.cos(m * t) - 2 * np.floor(m * t / np.pi)


CASES = [
    (NormalizedSoftmax(s=20.0), 20.0, np.cos),
    (CosFace(s=30.0, m=0.35), 30.0, lambda t: np.cos(t) - 0.35),
    (ArcFace(s=30.0, m=0.5), 30.0, arcface_z(0.5)),
    (ArcFace(s=30.0, m=0.5, easy_margin=True), 30.0, lambda t: np.where(np.cos(t) > 0, np.cos(t + 0.5), np.cos(t))),
    (SphereFace(s=30.0, m=4), 30.0, sphere_z(4)),
    (CombinedMargin(s=30.0, m1=0.9, m2=0.4, m3=0.15), 30.0, lambda t: np.cos(0.9 * t + 0.4) - 0.15),
]
IDS = ["normalized", "cosface", "arcface", "arcface_easy", "sphereface", "combined"]


def data(n=10, k=7, seed=0):
    rng = np.random.default_rng(seed)
    cos = rng.uniform(-0.95, 0.95, (n, k))
    labels = rng.integers(0, k, n)
    # target cosines straddling 0 and -cos(m), none on a branch point (0, -cos(0.5), cos(j pi / 4))
    cos[np.arange(n), labels] = np.linspace(-0.95, 0.95, n)
    return cos, labels


@pytest.mark.parametrize("loss, s, z", CASES, ids=IDS)
def test_values_against_numpy(loss, s, z):
    cos, labels = data()
    expected = per_sample(cos, labels, s, z)
    got = loss(labels, Tensor(cos))
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), expected.mean(), rtol=1e-12, atol=1e-12)
    none = type(loss).from_config({**loss.get_config(), "reduction": "none"})
    np.testing.assert_allclose(none(labels[:, None], Tensor(cos)).numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss, s, z", CASES, ids=IDS)
def test_gradient_with_respect_to_cosines(loss, s, z):
    cos, labels = data()
    check_grad(lambda c: loss(labels, c), cos, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_reductions_and_sample_weight_are_those_of_every_loss(reduction):
    """NormalizedSoftmax(s) on cosines is sparse cross-entropy on s * cosines: both go through
    the same reduction, with and without sample_weight."""
    cos, labels = data()
    weights = np.linspace(0, 2, len(labels))
    ours = NormalizedSoftmax(s=12.0, reduction=reduction)
    theirs = SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    for w in (None, weights):
        np.testing.assert_allclose(ours(labels, Tensor(cos), sample_weight=w).numpy(),
                                   theirs(labels, Tensor(12.0 * cos), sample_weight=w).numpy(), rtol=1e-12, atol=1e-14)


def test_margins_raise_the_loss_of_the_same_cosines():
    cos, labels = data()
    plain = NormalizedSoftmax(s=30.0)(labels, Tensor(cos)).numpy()
    assert CosFace(s=30.0)(labels, Tensor(cos)).numpy() > plain
    assert ArcFace(s=30.0)(labels, Tensor(cos)).numpy() > plain


@pytest.mark.parametrize("loss", [c[0] for c in CASES], ids=IDS)
def test_config_round_trip(loss):
    clone = type(loss).from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    cos, labels = data()
    assert clone(labels, Tensor(cos)).numpy() == loss(labels, Tensor(cos)).numpy()
    assert getattr(nnkit.losses, type(loss).__name__) is type(loss)


@pytest.mark.parametrize("make, message", [
    (lambda: ArcFace(s=0), r"ArcFace: s must be in \(0, 10000\], got 0"),
    (lambda: ArcFace(s=float("nan")), "ArcFace: s must be in"),
    (lambda: ArcFace(m=2.0), r"ArcFace: m must be in \[0, 1.5708\] \(radians\), got 2.0"),
    (lambda: ArcFace(m=-0.1), r"ArcFace: m must be in \[0, 1.5708\] \(radians\), got -0.1"),
    (lambda: CosFace(m=1.5), r"CosFace: m must be in \[0, 1\], got 1.5"),
    (lambda: CosFace(s=-1), r"CosFace: s must be in \(0, 10000\], got -1"),
    (lambda: SphereFace(m=2.5), r"SphereFace: m must be an integer in \[1, 16\], got 2.5"),
    (lambda: SphereFace(m=0), r"SphereFace: m must be an integer in \[1, 16\], got 0"),
    (lambda: CombinedMargin(m1=0), r"CombinedMargin: m1 must be in \(0, 16\], got 0"),
    (lambda: CombinedMargin(m3=2), r"CombinedMargin: m3 must be in \[0, 1\], got 2"),
    (lambda: NormalizedSoftmax(s="x"), "NormalizedSoftmax: s must be a real number, got 'x'"),
])
def test_bad_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_bad_labels_and_predictions():
    cos, labels = data(n=4, k=3)
    loss = ArcFace()
    with pytest.raises(ValueError, match=r"arc_face: labels must be in \[0, 3\) for 3 classes, got values from 0 to 3"):
        loss(np.array([0, 1, 2, 3]), Tensor(cos))
    with pytest.raises(ValueError, match=r"arc_face: labels must be in \[0, 3\).*-1"):
        loss(np.array([0, -1, 2, 1]), Tensor(cos))
    with pytest.raises(ValueError, match=r"arc_face: expected integer class labels of shape \(4,\)"):
        loss(np.array([0, 1]), Tensor(cos))
    with pytest.raises(ValueError, match="arc_face: expected integer class labels, got non-integer values"):
        loss(np.array([0, 1.5, 2, 1]), Tensor(cos))
    with pytest.raises(ValueError, match=r"arc_face: expected cosines \(batch, classes\) from NormalizedDense"):
        loss(labels, Tensor(cos[0]))
    with pytest.raises(ValueError, match=r"margin_cross_entropy: expected cosines in \[-1, 1\]"):
        loss(labels, Tensor(cos * 10))
    with pytest.raises(ValueError, match=r"arc_face: labels must be in \[0, 3\)"):
        loss.check_targets(np.array([5, 0]), (None, 3))


def test_trains_a_separable_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    nnkit.set_seed(0)
    model = nnkit.Sequential([nnkit.Input((6,)), nnkit.layers.Dense(16, activation="relu"),
                              nnkit.layers.Dense(8), nnkit.layers.NormalizedDense(4)])
    model.compile(optimizer="adam", loss=ArcFace(s=16.0, m=0.3), metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.6  # chance is 0.25


def test_margin_losses_by_name_in_compile(tmp_path):
    from nnkit import Input, Model, losses
    from nnkit.layers import NormalizedDense
    for name, cls in (("arcface", losses.ArcFace), ("cosface", losses.CosFace), ("sphereface", losses.SphereFace),
                      ("combined_margin", losses.CombinedMargin), ("normalized_softmax", losses.NormalizedSoftmax)):
        assert isinstance(losses.get(name), cls)
    x = Input(shape=(4,))
    model = Model(x, NormalizedDense(3)(x))
    model.compile("sgd", "arcface")
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6))
    model.save(tmp_path / "m.nnk")
    assert isinstance(nnkit.load_model(tmp_path / "m.nnk")._compiled_loss.single, losses.ArcFace)
