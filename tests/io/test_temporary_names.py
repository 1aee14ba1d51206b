"""Temporary files of atomic saves: a fixed, short name (any legal target name saves), and the leftovers of a
killed save removed by the next save of the same target, but never a temporary a live process may be writing."""
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nnkit
from child import child_env
from nnkit.io import atomic, atomic_write_bytes
from nnkit.layers import Dense
from nnkit.models.sequential import Sequential

NAME_MAX = 255


def temporaries(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def leftover(directory, target, pid, age=0.0):
    """A temporary of ``target`` as process ``pid`` would have named it, last written ``age`` seconds ago."""
    path = directory / f".nnk-{atomic._target_tag(str(target))}-{pid:08x}-abcd1234.tmp"
    path.write_bytes(b"partial")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("name", ["m" * (NAME_MAX - 4) + ".nnk", "é" * ((NAME_MAX - 4) // 2) + ".nnk"])
def test_a_target_name_of_255_bytes_saves(tmp_path, name):
    assert len(os.fsencode(name)) <= NAME_MAX
    model = Sequential([Dense(2, input_shape=(3,))])
    model.save(tmp_path / name)
    x = np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(nnkit.load_model(tmp_path / name).predict(x, verbose=0), model.predict(x, verbose=0))
    assert temporaries(tmp_path) == []


def test_temporary_names_have_a_fixed_length(tmp_path, monkeypatch):
    lengths = set()
    original = atomic.tempfile.mkstemp

    def spy(prefix, suffix, dir):
        fd, name = original(prefix=prefix, suffix=suffix, dir=dir)
        lengths.add(len(os.path.basename(name)))
        return fd, name

    monkeypatch.setattr(atomic.tempfile, "mkstemp", spy)
    for name in ["a", "b" * 200, "c" * NAME_MAX]:
        atomic_write_bytes(tmp_path / name, b"x")
    assert lengths == {39}


def test_the_leftover_of_a_killed_save_goes_at_the_next_save(tmp_path):
    target = tmp_path / "ckpt.bin"
    child = textwrap.dedent(f"""
        import os
        from nnkit.io import atomic_open
        with atomic_open({str(target)!r}) as f:
            f.write(b"new data" * 1000)
            f.flush()
            os.kill(os.getpid(), 9)
    """)
    proc = subprocess.run([sys.executable, "-c", child], cwd=tmp_path, env=child_env())
    assert proc.returncode == -9
    assert len(temporaries(tmp_path)) == 1
    other = leftover(tmp_path, tmp_path / "other.bin", dead_pid())  # another target's: not this save's business
    atomic_write_bytes(target, b"saved")
    assert target.read_bytes() == b"saved"
    assert temporaries(tmp_path) == [other.name]


def test_a_live_writers_temporary_is_kept(tmp_path):
    target = tmp_path / "t.bin"
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        live = leftover(tmp_path, target, writer.pid)
        mine = leftover(tmp_path, target, os.getpid())  # another thread of ours, saving right now
        atomic_write_bytes(target, b"x")
        assert temporaries(tmp_path) == sorted([live.name, mine.name])
    finally:
        writer.kill()
        writer.wait()
    atomic_write_bytes(target, b"y")  # the writer is gone now
    assert temporaries(tmp_path) == [mine.name]


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process start times come from /proc")
def test_a_temporary_older_than_the_process_with_its_pid_is_stale(tmp_path):
    target = tmp_path / "t.bin"
    started = atomic._start_time(os.getpid(), None)
    reused = leftover(tmp_path, target, os.getpid(), age=time.time() - started + 60)  # before this process started
    atomic_write_bytes(target, b"x")
    assert not reused.exists()
