"""Keep freed arrays in the process heap between training steps (glibc only).

A training step allocates and frees the same large arrays every step
(activations, gradients, im2col columns).  glibc's malloc serves blocks over
its mmap threshold with a fresh ``mmap`` and gives freed memory at the top of
the heap back to the kernel past its trim threshold, so every step page-faults
its arrays in again: about 750 faults per MLP step, 25-40 % of the step
(measured with ``perf stat -e page-faults``).  ``keep_heap()`` raises both
thresholds, as ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` would,
so freed blocks are reused.  The cost is that up to ``trim`` bytes of freed
memory stay mapped to the process.

nnkit calls it on import unless ``NNKIT_KEEP_HEAP=0`` or the user already set
glibc's malloc tuning (a ``MALLOC_*_`` variable or ``glibc.malloc`` in
``GLIBC_TUNABLES``): their choice wins.  The trim threshold holds per malloc
arena, and threads that allocate may get arenas of their own.
"""
import ctypes
import os

__all__ = ["keep_heap"]

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3
# glibc's largest mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX): blocks up to 32 MiB come from the heap.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")

_applied = None


def keep_heap(mmap_threshold=MMAP_THRESHOLD, trim_threshold=TRIM_THRESHOLD):
    """Raise glibc's mmap and trim thresholds; return whether they were set.

    Returns ``False`` (and changes nothing) off glibc.
    """
    if not _is_glibc():
        return False
    libc = ctypes.CDLL(None)  # the process's own symbols, glibc's among them (find_library spawns a subprocess)
    # mallopt returns 1 on success; both must be set, since setting either turns off glibc's adaptive thresholds.
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
                and libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))


def _is_glibc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not a POSIX confstr, or no such name here
        return False


def apply_default():
    """What ``import nnkit`` does: ``keep_heap()`` unless the user opted out or chose their own settings."""
    global _applied
    if _applied is None:
        opted_out = os.environ.get("NNKIT_KEEP_HEAP", "1").strip().lower() in ("0", "false", "no", "off")
        user_chose = (any(name in os.environ for name in _USER_SETTINGS)
                      or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""))
        _applied = False if opted_out or user_chose else keep_heap()
    return _applied
