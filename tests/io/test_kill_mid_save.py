"""A process killed (SIGKILL) while saving leaves the previous checkpoint intact and loadable."""
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from child import child_env
from nnkit.io.checkpoint import latest_checkpoint, load_checkpoint

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


CHILD_PRELUDE = """
import os, sys
import numpy as np
from nnkit.layers import Dense
from nnkit.models.sequential import Sequential
from nnkit.io.checkpoint import save_checkpoint

model = Sequential([Dense(256, input_shape=(256,)), Dense(256)], name="big")

def fill(value):
    for w in model.weights:
        w.data[...] = value
"""


def run_child(body, tmp_path, **kwargs):
    code = textwrap.dedent(CHILD_PRELUDE) + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=child_env(), **kwargs)


def constant_value(checkpoint):
    values = {float(v) for w in checkpoint.model.weights for v in np.unique(w.data)}
    assert len(values) == 1, values
    return values.pop()


def test_killed_in_the_middle_of_writing_tensors(tmp_path):
    target = tmp_path / "ckpt.nnkit"
    child = run_child(f"""
        fill(1.0)
        save_checkpoint({str(target)!r}, model, epoch=1, step=10)
        print("saved epoch 1", flush=True)
        import nnkit.io.safetensors_io as st
        original, calls = st._bytes_view, []
        def view_then_die(array):
            calls.append(1)
            if len(calls) == 2:  # the first tensor is on disk, the rest is not
                print("killing myself mid-write", flush=True)
                os.kill(os.getpid(), 9)
            return original(array)
        st._bytes_view = view_then_die
        fill(2.0)
        save_checkpoint({str(target)!r}, model, epoch=2, step=20)
        print("not reached", flush=True)
    """, tmp_path)
    out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err
    assert out.splitlines() == ["saved epoch 1", "killing myself mid-write"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1  # the half-written temporary, never renamed over the target
    checkpoint = load_checkpoint(target, restore_rng=False)
    assert (checkpoint.epoch, checkpoint.step) == (1, 10) and constant_value(checkpoint) == 1.0
    assert latest_checkpoint(tmp_path) == str(target)


def test_killed_at_a_random_moment_while_saving_in_a_loop(tmp_path):
    target = tmp_path / "ckpt.nnkit"
    child = run_child(f"""
        i = 0
        while True:
            fill(float(i))
            save_checkpoint({str(target)!r}, model, epoch=i)
            print(i, flush=True)
            i += 1
    """, tmp_path)
    try:
        completed = []
        while len(completed) < 3:  # several saves done; the next one is under way
            line = child.stdout.readline()
            assert line, child.stderr.read()
            completed.append(int(line))
        time.sleep(np.random.default_rng().uniform(0, 0.05))
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    checkpoint = load_checkpoint(target, restore_rng=False)
    assert checkpoint.epoch >= completed[-1]  # the last completed save, or one finished after it
    assert constant_value(checkpoint) == checkpoint.epoch
