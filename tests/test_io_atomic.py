"""Atomic writes leave the old file or the new one, never a torn mix."""
import os
import subprocess
import sys
import textwrap

import pytest

from child import child_env
from nnkit.io import atomic_open, atomic_write_bytes, atomic_write_text


def test_write_replaces_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    atomic_write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file.bin", "sub", "t.txt"]


def test_failure_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.bin"]


def test_process_killed_mid_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "ckpt.bin"
    target.write_bytes(b"old checkpoint")
    child = textwrap.dedent(f"""
        import os, sys
        from nnkit.io import atomic_open
        with atomic_open({str(target)!r}) as f:
            f.write(b"new data" * 1000)
            f.flush()
            print("writing", flush=True)
            os.kill(os.getpid(), 9)
    """)
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=tmp_path,
                          env=child_env())
    assert proc.returncode == -9 and "writing" in proc.stdout
    assert target.read_bytes() == b"old checkpoint"


def test_bad_mode():
    with pytest.raises(ValueError, match="atomic_open: mode"):
        with atomic_open("x", "ab"):
            pass


def test_saved_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "new.bin", b"x")
        assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o644
        (tmp_path / "kept.bin").write_bytes(b"old")
        os.chmod(tmp_path / "kept.bin", 0o640)
        atomic_write_bytes(tmp_path / "kept.bin", b"new")
        assert (tmp_path / "kept.bin").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
