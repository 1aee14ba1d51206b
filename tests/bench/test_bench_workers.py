"""Other frameworks' steps run in worker processes pinned to the row's cores, timed inside the worker."""
import json
import os
import sys

import pytest

from nnkit.bench import cli
from nnkit.bench.case_worker import torch_available
from nnkit.bench.timing import compare
from nnkit.bench.worker import SERVE, Worker

SCRIPT = r'''
import os, sys, time
calls = [0]


def make(name):  # a step only where the worker sees as many cores as ``name`` says
    if len(os.sched_getaffinity(0)) != int(name):
        return None

    def step():
        calls[0] += 1
        time.sleep(0.001)
    return step
''' + SERVE


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux-only")
def test_worker_is_pinned_and_times_its_own_steps():
    worker = Worker(SCRIPT, [], 1, what="test worker")
    try:
        assert worker.use("1")  # it sees one core
        seconds = worker.timed(5)
        assert 0.005 <= seconds < 5.0  # five steps of at least a millisecond each, timed in the worker
        step = worker.step(close=False)
        step()  # one run, for warm-ups
        assert not hasattr(step, "close") and step.timed == worker.timed
    finally:
        worker.close()
    assert worker.proc.returncode == 0


def test_a_worker_that_does_not_start_says_so():
    with pytest.raises(RuntimeError, match="the broken worker did not start"):
        Worker("raise SystemExit(3)", [], 1, what="broken worker")


def test_compare_uses_a_steps_own_timing():
    def step():
        raise AssertionError("compare should ask the step to time itself")
    step.timed = lambda k: 0.002 * k
    calls = []

    def local():
        calls.append(1)
    step_result = compare({"worker": _warmup_ok(step), "local": local}, rounds=3, warmup=0, target_s=0.01)
    assert step_result["worker"] == pytest.approx(0.002)
    assert step_result["local"] > 0 and calls


def _warmup_ok(step):
    """``step`` with calls allowed (warm-up runs call it; samples must use ``timed``)."""
    def run():
        pass
    run.timed = step.timed
    return run


@pytest.mark.skipif(not torch_available(), reason="PyTorch is not installed")
def test_torch_column_comes_from_a_worker(tmp_path):
    out = tmp_path / "bench.json"
    had_torch = "torch" in sys.modules  # (another test may have imported it)
    assert cli.main(["--quick", "--threads", "1", "--only", "softmax_xent", "--json", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["vs_torch"] > 0
    assert ("torch" in sys.modules) == had_torch  # the bench did not bring PyTorch into this process


def test_manners_rows_cover_both_machine_states():
    from nnkit.bench.manners import POLICIES, run_manners

    lines = []
    rows = run_manners(rounds=1, policies={"adaptive (default)": POLICIES["adaptive (default)"]},
                       progress=lines.append)
    assert [(r["policy"], r["machine"]) for r in rows] == [("adaptive (default)", "quiet"),
                                                          ("adaptive (default)", "busy")]
    for row in rows:
        assert row["items_per_s"] > 0 and row["one_thread_items_per_s"] > 0
        assert row["ratio"] == row["items_per_s"] / row["one_thread_items_per_s"]
        assert all(1 <= team <= row["threads"] for team in row["teams"])
    assert "busy" in lines[-1]
