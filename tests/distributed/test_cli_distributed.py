"""``mpiexec -n 2 nnkit train --distributed``: one log, checkpoints from rank 0, resume across ranks."""
import subprocess
import sys

import numpy as np
import pytest
from child import child_env


def nnkit_train(mpiexec, cwd, n, *args):
    cmd = [mpiexec, "-n", str(n), sys.executable, "-m", "nnkit", "train", "--distributed", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=child_env(OMP_NUM_THREADS="1"),
                          cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def tiny_dataset(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(data, x_train=rng.integers(0, 255, (96, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 96),
             x_test=rng.integers(0, 255, (32, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 32))
    return data


def test_nnkit_train_distributed_logs_once_and_resumes(mpiexec, tmp_path):
    data = tiny_dataset(tmp_path)
    common = ["--dataset", data, "--batch-size", 16, "--no-plot", "--threads", 1, "--verbose", 2,
              "--checkpoint-dir", tmp_path / "ck"]
    out = nnkit_train(mpiexec, tmp_path, 2, "--epochs", 2, *common)
    assert "2 MPI ranks (global batch 32)" in out
    assert out.count("Epoch 2/2 - 3 steps") == 1  # 48 samples per rank, batch 16; rank 0 prints alone
    assert out.count("Test accuracy") == 1
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["epoch-001.nnk", "epoch-002.nnk"]
    out = nnkit_train(mpiexec, tmp_path, 2, "--epochs", 3, "--resume", *common)
    assert "Resuming from" in out and "Epoch 3/3" in out and "Epoch 2/3" not in out


def test_nnkit_bench_distributed_smoke(mpiexec, tmp_path):
    """One untimed pass of the benchmark under mpiexec: its table has every row (the numbers are not checked)."""
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "nnkit", "bench", "--distributed", "--steps", "1", "--rounds",
           "1", "--repeats", "1", "--models", "lenet5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=child_env(OMP_NUM_THREADS="1"),
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("GB/s") == 8 + 1  # 4 KiB .. 64 MiB, and the header
    assert "lenet5     2 rank(s) x 1 thread(s), batch 64" in proc.stdout and "overlap fraction" in proc.stdout


def test_an_error_on_one_rank_ends_the_job(mpiexec, tmp_path):
    """Only rank 0 reads the checkpoint to resume from: when it cannot (another model's checkpoint), rank 1
    must not be left waiting for it."""
    data = tiny_dataset(tmp_path)
    common = ["--dataset", str(data), "--epochs", "2", "--batch-size", "16", "--no-plot", "--threads", "1",
              "--checkpoint-dir", str(tmp_path / "ck")]
    env = child_env(OMP_NUM_THREADS="1", NNKIT_DISTRIBUTED_TIMEOUT="60")
    first = subprocess.run([sys.executable, "-m", "nnkit", "train", "--model", "vgg-small", *common],
                           capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "nnkit", "train", "--distributed", "--resume", *common]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode != 0
    assert "error" in proc.stderr and "aborting the job" in proc.stderr
