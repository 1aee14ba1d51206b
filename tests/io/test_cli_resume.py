"""``nnkit train --checkpoint-dir D --resume`` across processes: 4 epochs straight equal
2 epochs, process exit, and a new process resuming for 2 more (bitwise weights, same History).

The child processes run the real ``nnkit.cli.main`` with a tiny model and dataset added to
the recipe tables, so the test takes seconds instead of training LeNet-5.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np

from child import child_env
from nnkit.io.checkpoint import latest_checkpoint, load_checkpoint
from nnkit.io.safetensors_io import read_safetensors

from nnkit import cli


def test_train_has_a_resume_option():
    """A missing --resume is a failure here, never a skip of the tests below."""
    args = cli._parser().parse_args(["train", "--checkpoint-dir", "d", "--resume"])
    assert args.resume is True and args.checkpoint_dir == "d"
    assert "--resume" in cli.__doc__


CHILD = """
import sys
import numpy as np
from nnkit import cli
from nnkit.layers import Conv2D, Dense, Dropout, Flatten
from nnkit.models import Sequential
from nnkit import recipes

def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (80, 6, 6), dtype=np.uint8)
    y = (x[:, :3].mean(axis=(1, 2)) > x[:, 3:].mean(axis=(1, 2))).astype(np.uint8) * 3
    return (x[:64], y[:64]), (x[64:], y[64:])

recipes.MODELS["tiny"] = lambda input_shape, classes: Sequential([Conv2D(3, 3, activation="relu", input_shape=(6, 6, 1)), Flatten(),
                                             Dropout(0.3), Dense(10, activation="softmax")], name="tiny")
recipes.DATASETS["tiny"] = tiny_data
cli.DEFAULTS["tiny"] = {"epochs": 4, "batch_size": 8, "lr": 0.01, "schedule": "constant"}
sys.exit(cli.main(["train", "--model", "tiny", "--dataset", "tiny", "--no-plot", "--verbose", "0"] + sys.argv[1:]))
"""


def start(tmp_path, *args):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=child_env())


def finish(proc):
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def test_train_resume_in_a_new_process_is_bitwise_identical(tmp_path):
    straight_run = start(tmp_path, "--epochs", "4", "--checkpoint-dir", "straight", "--save", "straight.nnkit")
    first = finish(start(tmp_path, "--epochs", "2", "--checkpoint-dir", "split"))  # alongside the straight run
    assert sorted(os.listdir(tmp_path / "split")) == ["epoch-001.nnk", "epoch-002.nnk"]
    second = finish(start(tmp_path, "--epochs", "4", "--checkpoint-dir", "split", "--resume",
                          "--save", "resumed.nnkit"))
    finish(straight_run)
    assert "Resuming from" in second and "epoch-002.nnk" in second and "Resuming" not in first

    straight, _ = read_safetensors(tmp_path / "straight.nnkit")
    resumed, _ = read_safetensors(tmp_path / "resumed.nnkit")
    assert straight.keys() == resumed.keys() and any(k.startswith("__optimizer__") for k in straight)
    for name in straight:  # weights and optimizer slots, bit for bit
        assert straight[name].tobytes() == resumed[name].tobytes(), name

    a = load_checkpoint(latest_checkpoint(tmp_path / "straight"), restore_rng=False)
    b = load_checkpoint(latest_checkpoint(tmp_path / "split"), restore_rng=False)
    assert (a.epoch, a.step) == (b.epoch, b.step) == (4, a.step)
    assert a.history == b.history and len(a.history["epoch"]) == 4
    assert a.state["stream"]["position"] == b.state["stream"]["position"]
    np.testing.assert_array_equal(a.state["stream"]["order"], b.state["stream"]["order"])
