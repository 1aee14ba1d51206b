"""The thread policy every kernel family follows (``nnkit.threads.team``): the whole team on a quiet
machine, the cores other processes leave free on a busy one.  The load is faked here (how fast the step
runs on a real busy machine is a benchmark: ``nnkit bench --manners``)."""
import subprocess
import sys
import time

import numpy as np
import pytest

import nnkit
from nnkit import threads
from nnkit._ext import threads as omp
from nnkit.cpu_load import LoadProbe

from child import child_env


@pytest.mark.parametrize("n, cores, others, team", [
    (2, 2, 0.0, 2), (2, 2, 0.4, 2),       # quiet, or a little background work: all of the team
    (2, 2, 0.67, 1), (2, 2, 1.0, 1),      # one busy process on two cores (it gets 2/3 of a core beside 2 spinners)
    (2, 2, 2.0, 1), (8, 2, 1.9, 1),       # never fewer than one
    (16, 16, 3.2, 13), (4, 16, 3.2, 4),   # the cores left, never more than asked for
    (4, 2, 0.3, 4),                       # asked to oversubscribe a quiet machine: as asked
])
def test_rule(n, cores, others, team):
    assert threads.team_for(n, cores, others) == team


class FakeProbe:
    def __init__(self, others):
        self.cpus, self.others, self.resets = {0, 1}, others, 0

    def others_busy(self):
        return self.others

    def reset(self):
        self.resets += 1


@pytest.fixture
def adaptive(monkeypatch):
    before, dynamic = nnkit.get_num_threads(), threads.get_dynamic()
    nnkit.set_num_threads(2)
    threads.set_dynamic(True)
    probe = FakeProbe(0.0)
    monkeypatch.setattr(threads, "_probe", probe)

    def decide(others, ago=threads.PROBE_S):
        probe.others = others
        threads._last_probe = time.monotonic() - ago  # the previous reading was ``ago`` seconds back
        return threads.team()
    yield decide, probe
    threads.set_dynamic(dynamic)
    nnkit.set_num_threads(before)


def test_the_team_shrinks_while_others_are_busy_and_grows_back(adaptive):
    decide, _ = adaptive
    assert decide(1.0) == 1
    assert omp.get_num_threads() == 1  # OpenMP's own default follows (a region that names no team reads it)
    assert nnkit.get_num_threads() == 2  # what was asked for stays what was asked for
    assert threads.team() == 1  # between readings, the last decision holds
    assert decide(0.1) == 2 and omp.get_num_threads() == 2


def test_a_stale_reading_starts_a_new_window(adaptive):
    decide, probe = adaptive
    resets = probe.resets
    assert decide(2.0, ago=threads.STALE_S + 1) == 2  # the process was idle: no decision on that window
    assert probe.resets == resets + 1
    assert decide(2.0) == 1


def test_fixed_team(adaptive):
    decide, _ = adaptive
    assert decide(1.0) == 1
    threads.set_dynamic(False)
    assert threads.team() == 2 and omp.get_num_threads() == 2
    assert decide(1.0) == 2
    threads.set_dynamic(True)
    nnkit.set_num_threads(1)
    assert decide(0.0) == 1


def test_kernels_give_the_same_answer_on_a_shrunk_team(adaptive):
    decide, _ = adaptive
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((8, 12, 12, 16)).astype(np.float32), rng.standard_normal((3, 3, 16, 32))
    w = w.astype(np.float32)
    want = nnkit.functional.conv2d(nnkit.Tensor(x), nnkit.Tensor(w), padding="same").data
    assert decide(1.0) == 1
    got = nnkit.functional.conv2d(nnkit.Tensor(x), nnkit.Tensor(w), padding="same").data
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_load_probe_reads_this_machine():
    probe = LoadProbe()
    assert probe.others_busy() is None  # no earlier reading
    time.sleep(0.2)
    others = probe.others_busy()
    if sys.platform.startswith("linux"):
        assert 0.0 <= others <= len(probe.cpus) + 0.25  # ticks are coarse: a little over the cores is possible


@pytest.mark.parametrize("value, dynamic", [("0", False), ("off", False), ("1", True)])
def test_environment_switch(value, dynamic):
    code = "from nnkit import threads; print(threads.get_dynamic())"
    out = subprocess.run([sys.executable, "-c", code], env=child_env(NNKIT_DYNAMIC_THREADS=value),
                         capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == str(dynamic)
