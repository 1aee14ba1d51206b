"""nnkit.distributed under real MPI: each test launches ``mpiexec -n P python _worker.py <case>``.

Skipped when mpi4py or mpiexec is missing (``pip install '.[distributed]'``).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from child import child_env

WORKER = Path(__file__).with_name("_worker.py")


@pytest.fixture
def launch(mpiexec):
    return lambda *args, **kwargs: run_worker(mpiexec, *args, **kwargs)


def run_worker(mpiexec, n, *args, timeout=180, check=True):
    """Run the worker on ``n`` ranks; returns (results by rank, completed process)."""
    results_dir = tempfile.mkdtemp(prefix="nnkit-mpi-")
    env = child_env(OMP_NUM_THREADS="1", NNKIT_NUM_THREADS="1", PYTHONUNBUFFERED="1", RESULTS_DIR=results_dir)
    proc = subprocess.run([mpiexec, "-n", str(n), sys.executable, str(WORKER), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=results_dir)
    if check and proc.returncode != 0:
        raise AssertionError(f"mpiexec -n {n} {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    results = {}
    for name in os.listdir(results_dir):
        with open(os.path.join(results_dir, name)) as f:
            item = json.load(f)
        results[item["rank"]] = item
    shutil.rmtree(results_dir)
    return results, proc


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_ranks_equal_one_process_on_the_global_batch(launch, n, opt):
    results, _ = launch(n, "equivalence", opt)
    assert sorted(results) == list(range(n))
    assert all(r["identical_every_step"] for r in results.values())  # bitwise, after every step
    assert all(r["overlap_used"] for r in results.values())
    root = results[0]
    assert root["moved"] > 1e-3  # training did change the weights
    assert root["max_rel_vs_single"] < 1e-10
    assert root["max_rel_between_thresholds"] < 1e-12
    assert {r["iterations"] for r in results.values()} == {10}


def test_a_planned_step_all_reduces_during_its_backward(launch):
    results, _ = launch(2, "planned_overlap")
    for r in results.values():
        assert r["planned"] and r["launched_in_backward"] >= 5  # at least one bucket per step started early
        assert r["bitwise_vs_no_overlap"] and r["identical"]


@pytest.mark.parametrize("n", [2, 3])
def test_sync_batch_norm_equals_one_process_on_the_global_batch(launch, n):
    results, _ = launch(n, "sync_bn")
    assert all(r["identical"] for r in results.values())
    assert results[0]["max_rel_sync_vs_single"] < 1e-10
    assert results[0]["max_rel_local_vs_single"] > 1e-3  # plain batch norm keeps per-rank moments


@pytest.mark.parametrize("n,samples", [(2, 10), (3, 11), (2, 7)])
def test_shard_semantics(launch, n, samples):
    results, _ = launch(n, "shard", samples)
    root = results[0]
    for key in ("epoch0", "epoch1", "plain"):
        per_rank = root[key]
        assert len({len(s) for s in per_rank}) == 1  # every rank as many samples: steps stay in step
        flat = sum(per_rank, [])
        assert set(flat) == set(range(samples))  # every index served
        assert len(flat) == -(-samples // n) * n  # padded by wrapping to a multiple of the ranks
        for r in range(1, n):
            assert results[r][key] == per_rank  # every rank computes the same split
    assert root["plain"][0][:2] == [0, n]  # rank r takes order[r::size]
    assert root["epoch0"] != root["epoch1"]  # reshuffled per epoch
    dropped = sum(root["drop_last"], [])
    assert len(dropped) == samples // n * n and len(set(dropped)) == len(dropped)


def test_a_dataset_is_sharded_by_batch(launch):
    results, _ = launch(2, "dataset", 5)
    assert results[0]["seen"] == [0, 2, 4] * 2 and results[1]["seen"] == [1, 3, 0] * 2
    assert results[0]["identical"]


def test_a_chunked_source_is_sharded_in_its_own_order(launch, tmp_path):
    results, _ = launch(2, "chunked", tmp_path, 29)
    seen = [results[r]["seen"] for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 15  # 29 samples padded to 30
    assert set(seen[0] + seen[1]) == set(range(29))
    assert seen[0] != results[0]["array_order"]  # the chunk-local order, not a global permutation:
    assert len({i // 8 for i in seen[0][:4] + seen[1][:4]}) <= 2  # the first batches read 2 chunks (the buffer)


def test_only_rank_0_writes(launch, tmp_path):
    results, proc = launch(2, "rank0_writes", tmp_path)
    assert results[0]["files"] == ["backup", "ckpt-1.nnk", "ckpt-2.nnk", "log.csv"]
    assert results[1]["files"] == []
    assert results[0]["loss"] == results[1]["loss"]  # epoch logs averaged over the ranks
    assert proc.stdout.count("Epoch 2/2") == 1  # progress from rank 0 alone


@pytest.mark.parametrize("bad_rank", [0, 1])
def test_nan_on_one_rank_stops_all(launch, bad_rank):
    results, proc = launch(2, "nan", bad_rank, 3)
    assert {r["iterations"] for r in results.values()} == {3}
    assert all(r["stopped"] for r in results.values())
    assert "invalid loss nan" in proc.stderr


def test_distributed_resume_equals_uninterrupted(launch, tmp_path):
    results, _ = launch(2, "resume", tmp_path, 1)
    assert results[0]["restored"]  # rank 0 read the backup; the others received its state
    for r in results.values():
        assert r["bitwise"], r
        assert r["identical"] and r["epochs"] == 3 and r["iterations"] == 15


@pytest.mark.parametrize("how", ["kill", "raise", "hang"])
def test_a_failed_worker_ends_the_job(launch, how):
    results, proc = launch(2, "die", how, 3, 10, timeout=120, check=False)
    assert proc.returncode != 0
    assert not results  # no rank finished training
    out = proc.stdout + proc.stderr
    if how == "hang":
        assert "did not complete within 10 s" in out
    elif how == "raise":
        assert "uncaught RuntimeError" in out
