"""Atomic file writes: nothing a user saved is ever half-overwritten.

The data goes to a temporary file in the target's directory, is flushed and
fsynced, then renamed over the target (atomic on POSIX and Windows), and the
directory entry is fsynced.  A process killed at any point leaves either the
old file or the new one, never a torn mix.

Temporary names have a fixed length whatever the target's
(``.nnk-<target hash>-<pid>-<random>.tmp``, 39 characters), so a target name
of up to 255 bytes can be saved.  A killed save leaves its temporary behind;
the next save of the same target removes such leftovers, but only those no
live process can still be writing: the process that named it is gone, or
started after the file was last written (its pid was reused).
"""
import contextlib
import hashlib
import os
import re
import tempfile

_TEMP = re.compile(r"\.nnk-([0-9a-f]{12})-([0-9a-f]{8})-[A-Za-z0-9_]{8}\.tmp\Z")


def _target_tag(path):
    """12 hex digits naming the target among the temporaries of its directory."""
    return hashlib.sha256(os.fsencode(os.path.basename(path))).hexdigest()[:12]


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file that replaces ``path`` only if the block succeeds."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tag = _target_tag(path)
    remove_stale_temporaries(directory, tag)
    fd, tmp = tempfile.mkstemp(prefix=f".nnk-{tag}-{os.getpid():08x}-", suffix=".tmp", dir=directory)
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


def remove_stale_temporaries(directory, tag):
    """Delete the temporaries of target ``tag`` in ``directory`` that no live process can be writing."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _TEMP.match(name)
        if match is None or match.group(1) != tag:
            continue
        tmp = os.path.join(directory, name)
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove: leave it
            if _is_stale(int(match.group(2), 16), os.stat(tmp).st_mtime):
                os.unlink(tmp)


# A start time from /proc is good to a second (the boot time is whole seconds): a file counts as older
# than a process only by more than this.
_CLOCK_SLACK = 2.0


def _is_stale(pid, mtime):
    """No live process can still write a temporary that ``pid`` last wrote at ``mtime``."""
    if pid != os.getpid():  # our own pid: alive, but maybe reused (another thread of ours may be saving now)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive (another user's), or we cannot tell
            pass
    return mtime < _start_time(pid, default=float("-inf")) - _CLOCK_SLACK


def _start_time(pid, default):
    """When process ``pid`` started (seconds since the epoch), where /proc tells (Linux); else ``default``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22, after the command name
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return default


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
