"""Every kernel family follows one thread policy: the Cython wrapper asks ``nnkit.threads.team()`` (or passes 1
below the family's threshold) and the kernel runs on exactly that team, whatever OpenMP's own default count.

The results do not depend on the team: each kernel's reductions run in a fixed order (batch norm sums fixed row
chunks; the others share out independent rows or elements).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import nnkit
from nnkit import threads
from nnkit.backend import cython as cy
from nnkit.backend.cython import activation, batchnorm, margin_xent, optim, pool, softmax_xent

from child import child_env

THRESHOLDS = {"pool": pool, "batch_norm": batchnorm, "softmax_xent": softmax_xent, "margin_xent": margin_xent,
              "activation": activation, "optim": optim}


def _f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def kernel_calls(elements):
    """``(name, family, call)`` for every kernel entry; ``call()`` runs it on about ``elements`` input elements
    (fresh copies of the same data on every call) and returns all it wrote."""
    rng = np.random.default_rng(0)
    calls = []

    def add(family, name):
        def register(fn):
            calls.append((name, family, fn))
        return register

    side = max(18, int(np.sqrt(elements / 16)))  # 18: room for two 9-wide windows
    img = _f32(rng, 1, side, side, 16)
    valid = ((0, 0), (0, 0))
    for k in (2, 9):  # 9: the running-sum kernels
        window = (k, k)
        y, argmax = cy.max_pool2d_forward(img, window, window, valid)
        add("pool", f"max_pool2d_forward/{k}")(lambda w=window: cy.max_pool2d_forward(img, w, w, valid))
        add("pool", f"avg_pool2d_forward/{k}")(lambda w=window: (cy.avg_pool2d_forward(img, w, w, valid),))
        add("pool", f"avg_pool2d_backward/{k}")(
            lambda w=window, dy=y: (cy.avg_pool2d_backward(dy, img.shape, w, w, valid),))
        if k == 2:
            add("pool", "max_pool2d_backward")(lambda dy=y, a=argmax: (cy.max_pool2d_backward(dy, a, img.shape),))

    rows = max(2, elements // 64)
    x, dy = _f32(rng, rows, 64), _f32(rng, rows, 64)
    gamma, beta = _f32(rng, 64), _f32(rng, 64)
    _, mean, invstd, var = cy.batch_norm_forward_train(x, gamma, beta, 1e-3)
    add("batch_norm", "batch_norm_forward_train")(lambda: cy.batch_norm_forward_train(x, gamma, beta, 1e-3))
    add("batch_norm", "batch_norm_backward")(lambda: cy.batch_norm_backward(dy, x, mean, invstd, gamma))
    add("batch_norm", "batch_norm_inference")(lambda: (cy.batch_norm_inference(x, gamma, beta, mean, var, 1e-3),))

    labels = rng.integers(0, 64, rows)
    dense = np.abs(_f32(rng, rows, 64))
    _, probs = cy.softmax_cross_entropy_forward(x, labels)
    dloss = _f32(rng, rows)
    for kind, target in (("labels", labels), ("dense", dense)):
        add("softmax_xent", f"softmax_cross_entropy_forward/{kind}")(
            lambda t=target: cy.softmax_cross_entropy_forward(x, t, 0.1))
        add("softmax_xent", f"softmax_cross_entropy_backward/{kind}")(
            lambda t=target: (cy.softmax_cross_entropy_backward(dloss, probs, t, 0.1),))

    cosines = np.tanh(x)
    _, dcosines = cy.margin_cross_entropy_forward(cosines, labels, 30.0, "arcface", m2=0.5)
    add("margin_xent", "margin_cross_entropy_forward")(
        lambda: cy.margin_cross_entropy_forward(cosines, labels, 30.0, "arcface", m2=0.5))
    add("margin_xent", "margin_cross_entropy_backward")(lambda: (cy.margin_cross_entropy_backward(dloss, dcosines),))

    add("activation", "bias_relu")(lambda: (cy.bias_relu(x, gamma),))
    add("activation", "relu_backward")(lambda: (cy.relu_backward(dy, x),))

    w, g = _f32(rng, elements), _f32(rng, elements)
    pos = np.abs(_f32(rng, elements))
    updates = {"sgd_update": ([w], (0.01, 0.9, True)),
               "adam_update": ([w, pos, pos], (0.01, 0.9, 0.999, 1e-7)),
               "rmsprop_update": ([pos, w, w], (0.01, 0.9, 0.5, 1e-7)),
               "adagrad_update": ([pos], (0.01, 1e-7)),
               "nadam_update": ([w, pos], (0.9, 0.999, 0.52, 0.11, 0.01, 0.002, 1e-7)),
               "adamax_update": ([w, pos], (0.01, 0.9, 0.999, 0.1, 1e-7)),
               "adadelta_update": ([pos, pos], (0.5, 0.95, 1e-7)),
               "lion_update": ([w], (0.01, 0.9, 0.99)),
               "ftrl_update": ([pos + 0.1, w], (0.05, 0.7, 0.1, 0.01, 0.0))}
    for name, (state, scalars) in updates.items():
        def update(name=name, state=state, scalars=scalars):
            mine = [w.copy(), g] + [s.copy() for s in state]
            getattr(cy, name)(*mine, *scalars)
            return tuple(mine[:1] + mine[2:])
        add("optim", name)(update)
    return calls


ABOVE = 1 << 17  # elements: above every family's threshold
BELOW = 1 << 10  # below every one


def test_every_family_has_a_named_threshold_in_its_wrapper():
    for family, module in THRESHOLDS.items():
        assert 1 <= module._MIN_PARALLEL_ELEMENTS <= ABOVE // 2, family
        assert BELOW < module._MIN_PARALLEL_ELEMENTS, family


def test_every_family_is_covered():
    assert {family for _, family, _ in kernel_calls(BELOW)} == set(THRESHOLDS)


LARGE = kernel_calls(ABOVE)


@pytest.mark.parametrize("name, call", [(name, call) for name, _, call in LARGE], ids=[name for name, _, _ in LARGE])
def test_one_and_three_threads_give_the_same_bits(monkeypatch, name, call):
    was = nnkit.get_num_threads()
    nnkit.set_num_threads(1)  # OpenMP's own default: 1; the kernel must still run the team it is given
    try:
        monkeypatch.setattr(threads, "team", lambda: 1)
        one = call()
        monkeypatch.setattr(threads, "team", lambda: 3)
        three = call()
    finally:
        nnkit.set_num_threads(was)
    assert len(one) == len(three)
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert a.tobytes() == b.tobytes(), name


COUNT_SCRIPT = """
import os, sys
sys.path[:0] = [{here!r}, os.path.dirname({here!r})]  # this module, and tests/child.py it imports
import nnkit
from nnkit import threads
import test_kernel_teams as cases

def workers():
    return len(os.listdir("/proc/self/task"))

small, large = cases.kernel_calls(cases.BELOW), cases.kernel_calls(cases.ABOVE)
base = workers()
threads.team = lambda: 64
for name, _, call in small:  # below the threshold the wrapper passes 1, whatever team() says
    call()
    assert workers() == base, (name, workers(), base)
for n, (name, _, call) in enumerate(large, start=2):  # a larger team each time: OpenMP adds exactly the workers
    threads.team = lambda n=n: n
    call()
    assert workers() == base + n - 1, (name, n, workers() - base)
print("ok", len(large))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts the process's threads in /proc")
def test_each_kernel_starts_exactly_the_team_its_wrapper_passes(tmp_path):
    """OpenMP keeps a team's workers for the next region and adds workers when a larger team is asked for, so
    the process's thread count after each call tells the team that call ran.  NNKIT_NUM_THREADS=1: OpenMP's own
    default team is 1 and no worker exists before the count starts."""
    script = COUNT_SCRIPT.format(here=os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env=child_env(drop=("OMP_THREAD_LIMIT", "OMP_DYNAMIC"), OMP_WAIT_POLICY="PASSIVE",
                                       NNKIT_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["ok", str(len(kernel_calls(BELOW)))]
