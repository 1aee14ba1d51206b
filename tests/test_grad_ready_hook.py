"""``nnkit.tensor.on_grad_ready``: backward reports each leaf once, as soon as its gradient is final."""
import numpy as np
import pytest

from nnkit import functional as F
from nnkit.tensor import Tensor, on_grad_ready


def test_each_leaf_is_reported_once_with_its_final_gradient_last_layer_first():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((5, 4)))
    w1, b1 = Tensor(rng.standard_normal((4, 3)), requires_grad=True), Tensor(np.zeros(3), requires_grad=True)
    w2 = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    h = F.linear(x, w1, b1).relu()
    loss = (h @ w2).sum() + (w1 * w1).sum()  # w1 used twice: reported only after both uses
    seen = []
    with on_grad_ready(lambda leaf: seen.append((leaf, leaf.grad.copy()))):
        loss.backward()
    assert sorted(map(id, (t for t, _ in seen))) == sorted(map(id, (w1, b1, w2)))
    for leaf, grad in seen:
        assert np.array_equal(grad, leaf.grad)  # nothing was added after the report


def test_later_layers_are_ready_before_earlier_ones():
    rng = np.random.default_rng(1)
    h = Tensor(rng.standard_normal((2, 3)))
    weights = [Tensor(rng.standard_normal((3, 3)), requires_grad=True) for _ in range(4)]
    for w in weights:
        h = (h @ w).tanh()
    seen = []
    with on_grad_ready(seen.append):
        h.sum().backward()
    assert [id(t) for t in seen] == [id(w) for w in reversed(weights)]


def test_no_hook_outside_the_block_and_bad_input():
    w = Tensor(np.ones(3), requires_grad=True)
    calls = []
    with on_grad_ready(calls.append):
        pass
    (w * 2).sum().backward()
    assert calls == []
    with pytest.raises(TypeError, match="on_grad_ready: expected a callable fn\\(leaf\\), got 3"):
        on_grad_ready(3)


def _trained_reports(planned):
    """Reports (weight index, gradient) of one training step of a small model, planned or eager."""
    import nnkit
    from nnkit import layers

    nnkit.set_seed(0)
    model = nnkit.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(5),
                              layers.Activation("tanh"), layers.Dense(3)])
    model.compile(nnkit.optimizers.SGD(0.1), nnkit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=None if planned else False)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    index = {id(w): i for i, w in enumerate(model.trainable_weights)}
    seen = []

    def ready(leaf):
        if id(leaf) in index:  # (the plan's output is a leaf of the loss's graph too)
            seen.append((index[id(leaf)], leaf.grad.copy()))
    with on_grad_ready(ready):
        model.train_on_batch(x, y)
    plans = [p for p in model.__dict__.get("_plans", {}).values() if p is not None]
    assert bool(plans) == planned  # the planned model did train through its plan
    return seen


def test_a_training_plan_reports_each_weight_as_the_eager_step_does():
    eager, planned = _trained_reports(False), _trained_reports(True)
    assert [i for i, _ in planned] == [i for i, _ in eager] == [4, 5, 2, 3, 0, 1]  # the last layer's first
    for (_, a), (_, b) in zip(planned, eager):
        assert np.array_equal(a, b)  # the same gradient, bit for bit, when it is reported
