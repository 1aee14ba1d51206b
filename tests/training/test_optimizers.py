"""Each optimizer against a hand-computed two-step update; clipping, decay, state, schedules."""
import json
import math

import numpy as np
import pytest

from nnkit import Tensor, optimizers, schedules

W0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.1, -0.2, 0.3])
G2 = np.array([-0.4, 0.5, 0.1])


def two_steps(opt, dtype=np.float64):
    w = Tensor(W0.astype(dtype), requires_grad=True, name="dense/kernel")
    data = w.data
    for g in (G1, G2):
        w.grad = g.astype(dtype)
        opt.apply_gradients([w])
    assert w.data is data, "updates must be in place"
    return w.data


def scalar_reference(step):
    """Apply a per-element scalar update rule (written out by hand) twice."""
    out = []
    for i in range(3):
        w, state = W0[i], {}
        for t, g in enumerate((G1[i], G2[i]), start=1):
            w = step(w, g, t, state)
        out.append(w)
    return np.array(out)


def sgd_plain(w, g, t, s):
    return w - 0.1 * g


def sgd_momentum(w, g, t, s):
    s["v"] = 0.9 * s.get("v", 0.0) - 0.1 * g
    return w + s["v"]


def sgd_nesterov(w, g, t, s):
    s["v"] = 0.9 * s.get("v", 0.0) - 0.1 * g
    return w + 0.9 * s["v"] - 0.1 * g


def adam(w, g, t, s, amsgrad=False):
    s["m"] = 0.9 * s.get("m", 0.0) + 0.1 * g
    s["v"] = 0.999 * s.get("v", 0.0) + 0.001 * g * g
    v = s["v"]
    if amsgrad:
        s["vhat"] = max(s.get("vhat", 0.0), v)
        v = s["vhat"]
    lr_t = 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
    return w - lr_t * s["m"] / (math.sqrt(v) + 1e-7)


def adamw(w, g, t, s):
    return adam(w - 0.01 * 0.05 * w, g, t, s)


def rmsprop(w, g, t, s):
    s["v"] = 0.9 * s.get("v", 0.0) + 0.1 * g * g
    return w - 0.01 * g / math.sqrt(s["v"] + 1e-7)


def rmsprop_centered_momentum(w, g, t, s):
    s["v"] = 0.9 * s.get("v", 0.0) + 0.1 * g * g
    s["a"] = 0.9 * s.get("a", 0.0) + 0.1 * g
    inc = 0.01 * g / math.sqrt(s["v"] - s["a"] ** 2 + 1e-7)
    s["m"] = 0.5 * s.get("m", 0.0) + inc
    return w - s["m"]


def adagrad(w, g, t, s):
    s["acc"] = s.get("acc", 0.1) + g * g
    return w - 0.1 * g / math.sqrt(s["acc"] + 1e-7)


CASES = [
    ("sgd", lambda: optimizers.SGD(0.1), sgd_plain),
    ("sgd_momentum", lambda: optimizers.SGD(0.1, momentum=0.9), sgd_momentum),
    ("sgd_nesterov", lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True), sgd_nesterov),
    ("adam", lambda: optimizers.Adam(0.01), adam),
    ("adam_amsgrad", lambda: optimizers.Adam(0.01, amsgrad=True), lambda *a: adam(*a, amsgrad=True)),
    ("adamw", lambda: optimizers.AdamW(0.01, weight_decay=0.05), adamw),
    ("rmsprop", lambda: optimizers.RMSprop(0.01), rmsprop),
    ("rmsprop_centered", lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True), rmsprop_centered_momentum),
    ("adagrad", lambda: optimizers.Adagrad(0.1), adagrad),
]


@pytest.mark.parametrize("name,make,rule", CASES, ids=[c[0] for c in CASES])
def test_two_step_update(name, make, rule):
    np.testing.assert_allclose(two_steps(make()), scalar_reference(rule), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,make,rule", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(name, make, rule):
    out = two_steps(make(), np.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, scalar_reference(rule), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,make,rule", CASES, ids=[c[0] for c in CASES])
def test_state_round_trip_continues_identically(name, make, rule):
    opt = make()
    w = Tensor(W0.copy(), requires_grad=True, name="dense/kernel")
    w.grad = G1.copy()
    opt.apply_gradients([w])
    state = opt.get_state()
    json.dumps({k: v for k, v in state.items() if k != "slots"})  # scalars are JSON-able
    assert all(isinstance(a, np.ndarray) for a in state["slots"].values())
    fresh = type(opt).from_config(json.loads(json.dumps(opt.get_config())))
    fresh.set_state(state, weights=[w])
    w2 = Tensor(w.data.copy(), requires_grad=True, name="dense/kernel")
    for o, t in ((opt, w), (fresh, w2)):
        t.grad = G2.copy()
        o.apply_gradients([t])
    np.testing.assert_array_equal(w.data, w2.data)
    np.testing.assert_allclose(w.data, scalar_reference(rule), rtol=1e-12)


def test_weight_decay_and_exclusion():
    opt = optimizers.SGD(0.1, weight_decay=0.5, exclude_from_weight_decay=["bias"])
    k = Tensor(np.ones(2), requires_grad=True, name="d/kernel")
    b = Tensor(np.ones(2), requires_grad=True, name="d/bias")
    k.grad, b.grad = np.zeros(2), np.zeros(2)
    opt.apply_gradients([k, b])
    np.testing.assert_allclose(k.data, 0.95)
    np.testing.assert_allclose(b.data, 1.0)


def test_clipping():
    g = np.array([3.0, 4.0])
    for opt, expected in [(optimizers.SGD(1.0, clipnorm=1.0), -g / 5),
                          (optimizers.SGD(1.0, clipvalue=3.5), -np.array([3.0, 3.5]))]:
        w = Tensor(np.zeros(2), requires_grad=True)
        w.grad = g.copy()
        opt.apply_gradients([w])
        np.testing.assert_allclose(w.data, expected)
        np.testing.assert_array_equal(w.grad, g)  # the gradient itself is left alone
    a, b = Tensor(np.zeros(1), requires_grad=True, name="a"), Tensor(np.zeros(1), requires_grad=True, name="b")
    a.grad, b.grad = np.array([3.0]), np.array([4.0])
    optimizers.SGD(1.0, global_clipnorm=1.0).apply_gradients([a, b])
    np.testing.assert_allclose([a.data[0], b.data[0]], [-0.6, -0.8])


def test_weights_without_gradient_are_skipped():
    opt = optimizers.Adam()
    w = Tensor(np.ones(2), requires_grad=True, name="w")
    opt.apply_gradients([w])
    assert opt.iterations == 0 and opt.get_state()["slots"] == {}


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_empty_weights_beside_others(name, momentum):
    """A weight with no elements (the BLAS rejects zero-length vectors) updates as a no-op beside real ones."""
    kwargs = {"momentum": momentum} if name in ("sgd", "rmsprop") else {}
    opt = optimizers.get(name, learning_rate=0.5, **kwargs)
    empty = Tensor(np.zeros((4, 0), np.float32), requires_grad=True, name="empty")
    full = Tensor(np.ones(3, np.float32), requires_grad=True, name="full")
    empty.grad, full.grad = np.zeros((4, 0), np.float32), np.ones(3, np.float32)
    opt.apply_gradients([empty, full])
    assert empty.data.shape == (4, 0) and np.all(full.data < 1)


def test_schedule_drives_the_rate():
    sched = schedules.PiecewiseConstantDecay([0], [1.0, 0.5])
    opt = optimizers.SGD(sched)
    w = Tensor(np.zeros(1), requires_grad=True)
    for _ in range(3):
        w.grad = np.ones(1)
        opt.apply_gradients([w])
    np.testing.assert_allclose(w.data, [-2.0])  # steps 0, 1, 2 use 1.0, 0.5, 0.5
    cfg = json.loads(json.dumps(opt.get_config()))
    assert optimizers.SGD.from_config(cfg).schedule.get_config() == sched.get_config()


def test_schedules():
    s = schedules.StepDecay(1.0, step_size=10, gamma=0.5)
    assert [s(0), s(9), s(10), s(25)] == [1.0, 1.0, 0.5, 0.25]
    e = schedules.ExponentialDecay(2.0, decay_steps=10, decay_rate=0.5)
    assert e(5) == pytest.approx(2.0 * 0.5 ** 0.5)
    assert schedules.ExponentialDecay(2.0, 10, 0.5, staircase=True)(15) == 1.0
    c = schedules.CosineDecay(0.0, decay_steps=100, alpha=0.1, warmup_target=1.0, warmup_steps=10)
    assert c(0) == 0.0 and c(5) == pytest.approx(0.5) and c(10) == pytest.approx(1.0)
    assert c(60) == pytest.approx(0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)) + 0.1)
    assert c(110) == pytest.approx(0.1) and c(10 ** 6) == pytest.approx(0.1)
    assert schedules.CosineDecay(1.0, 4)(2) == pytest.approx(0.5)
    p = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.1, 0.01])
    assert [p(0), p(10), p(11), p(20), p(21)] == [1.0, 1.0, 0.1, 0.1, 0.01]
    for sched in (s, e, c, p):
        again = schedules.deserialize(json.loads(json.dumps(schedules.serialize(sched))))
        assert [again(t) for t in range(0, 120, 7)] == [sched(t) for t in range(0, 120, 7)]


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown optimizer 'adan'; valid names: adadelta, adagrad, adam, adamax, adamw, ftrl, lion, nadam, rmsprop, sgd"):
        optimizers.get("adan")
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(-1.0)
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0])
    with pytest.raises(ValueError, match="share the name"):
        a = Tensor(np.zeros(1), requires_grad=True, name="x")
        b = Tensor(np.zeros(1), requires_grad=True, name="x")
        a.grad = b.grad = np.ones(1)
        optimizers.SGD().apply_gradients([a, b])
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="does not have"):
        opt.set_state({"iterations": 1, "slots": {"m/other": np.zeros(1)}},
                      weights=[Tensor(np.zeros(1), requires_grad=True, name="w")])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        opt.set_state({"iterations": 1, "slots": {"m/w": np.zeros(2)}},
                      weights=[Tensor(np.zeros(1), requires_grad=True, name="w")])


def test_get_by_name_passes_arguments():
    opt = optimizers.get("adam", learning_rate=0.01)
    assert isinstance(opt, optimizers.Adam) and opt.learning_rate == 0.01
