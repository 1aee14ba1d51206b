"""Atomic file writes: nothing a user saved is ever half-overwritten.

The data goes to a temporary file in the target's directory, is flushed and
fsynced, then renamed over the target (atomic on POSIX and Windows), and the
directory entry is fsynced.  A process killed at any point leaves either the
old file or the new one, never a torn mix.
"""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file that replaces ``path`` only if the block succeeds."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; a saved file gets the usual permissions
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _file_mode(path):
    """The replaced file's mode, or what ``open()`` would give a new file (0666 less the umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory):
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text):
    with atomic_open(path, "w") as f:
        f.write(text)
