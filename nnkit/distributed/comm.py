"""The MPI communicator and its collectives, through mpi4py on ``MPI.COMM_WORLD``.

Every collective here waits with a deadline: a rank that died or stalled
would otherwise leave the others blocked forever inside MPI.  The wait polls
a non-blocking request (``Iallreduce``, ``Ibcast``, ``Ibarrier``); past
``timeout()`` seconds (``NNKIT_DISTRIBUTED_TIMEOUT``, default 600; set it
with ``set_timeout``) the rank prints which collective timed out and calls
``MPI_Abort``, which makes the launcher end every rank with an error.
An uncaught exception on any rank aborts the job the same way (``init``
installs the hook), instead of leaving the other ranks waiting.
"""
import os
import sys
import time
import traceback

import numpy as np

__all__ = ["init", "is_initialized", "rank", "size", "is_root", "barrier", "allreduce", "allreduce_many",
           "broadcast", "broadcast_object", "timeout", "set_timeout", "abort", "find_mpiexec", "DistributedError"]

_COMM = None
_TIMEOUT = None


class DistributedError(RuntimeError):
    """MPI is missing, or a distributed call was made before ``init()``."""


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise DistributedError(f"nnkit.distributed needs mpi4py and an MPI library: pip install 'nnkit[distributed]' "
                               f"(mpi4py and MPICH), or pip install mpi4py against your system MPI ({e})") from None
    return MPI


def find_mpiexec():
    """``mpiexec`` next to this Python (where the ``mpich`` wheel puts it) or on ``PATH``; ``None`` if absent."""
    import shutil
    from pathlib import Path
    return shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                         os.environ.get("PATH", "")]))


def init():
    """Join ``MPI.COMM_WORLD`` (idempotent); returns ``(rank, size)``.

    With more than one rank, ``fit`` then trains data-parallel: see ``nnkit.distributed``.
    """
    global _COMM
    if _COMM is None:
        MPI = _mpi()
        _COMM = MPI.COMM_WORLD
        if _COMM.size > 1:
            _install_abort_on_exception()
            from .fit import install
            install()
    return _COMM.rank, _COMM.size


def is_initialized():
    return _COMM is not None


def comm():
    if _COMM is None:
        raise DistributedError("nnkit.distributed: call nnkit.distributed.init() first")
    return _COMM


def rank():
    return comm().rank


def size():
    return comm().size


def is_root(root=0):
    return comm().rank == root


def timeout():
    """Seconds a collective may wait for the other ranks before the job is aborted."""
    if _TIMEOUT is not None:
        return _TIMEOUT
    value = os.environ.get("NNKIT_DISTRIBUTED_TIMEOUT", "600")
    try:
        seconds = float(value)
    except ValueError:
        raise DistributedError(f"NNKIT_DISTRIBUTED_TIMEOUT must be a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise DistributedError(f"NNKIT_DISTRIBUTED_TIMEOUT must be positive, got {value!r}")
    return seconds


def set_timeout(seconds):
    """Set the collective timeout (``None``: back to ``NNKIT_DISTRIBUTED_TIMEOUT`` or 600 s)."""
    global _TIMEOUT
    if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"set_timeout: seconds must be a positive number or None, got {seconds!r}")
    _TIMEOUT = None if seconds is None else float(seconds)


def abort(message):
    """Print ``message`` naming this rank, then end the whole job (``MPI_Abort``)."""
    c = comm()
    print(f"nnkit.distributed: rank {c.rank} of {c.size}: {message}; aborting the job", file=sys.stderr, flush=True)
    time.sleep(2.0)  # let the launcher forward the message (even on a busy machine) before MPI_Abort ends the job
    c.Abort(1)


def _install_abort_on_exception():
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        if not issubclass(kind, KeyboardInterrupt):
            abort(f"uncaught {kind.__name__}; the other ranks would wait for it forever")

    sys.excepthook = hook


def wait(request, what):
    """Complete a non-blocking request, or abort the job after ``timeout()`` seconds."""
    if request.Test():
        return
    start = time.monotonic()
    limit = timeout()
    while not request.Test():
        waited = time.monotonic() - start
        if waited > limit:
            abort(f"{what} did not complete within {limit:g} s (NNKIT_DISTRIBUTED_TIMEOUT): another rank died, "
                   f"stalled or took a different path")
        # Short waits spin (yielding the core: MPI progresses only inside MPI calls, so a sleeping rank would
        # hold up its partners at every step of the algorithm); only long ones sleep.
        time.sleep(0 if waited < 0.1 else 1e-3)


def barrier():
    wait(comm().Ibarrier(), "barrier")


def _op(op):
    MPI = _mpi()
    ops = {"average": MPI.SUM, "sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise ValueError(f"allreduce: op must be one of {', '.join(ops)}, got {op!r}")
    return ops[op]


def allreduce(array, op="average"):
    """Reduce ``array`` over all ranks; the result on every rank.

    A C-contiguous float or integer ndarray is reduced in place (and returned);
    anything else is copied into a new array first.  ``op``: ``'average'``
    (the sum divided by ``size()``), ``'sum'``, ``'max'`` or ``'min'``.
    """
    mpi_op = _op(op)
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous or not array.flags.writeable:
        array = np.array(array, order="C")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"allreduce: expected a numeric array, got dtype {array.dtype}")
    if array.dtype.kind == "b":
        raise TypeError("allreduce: boolean arrays are not reduced; cast to an integer type")
    if op == "average" and array.dtype.kind != "f":
        raise TypeError(f"allreduce: op='average' needs a float array, got dtype {array.dtype}")
    c = comm()
    if c.size > 1:
        wait(c.Iallreduce(_mpi().IN_PLACE, array, op=mpi_op), f"allreduce of {array.nbytes} bytes")
        if op == "average":
            array /= c.size
    return array


def allreduce_many(arrays, op="average"):
    """Start an in-place all-reduce of each contiguous array and wait for all of them together."""
    mpi_op, c = _op(op), comm()
    if c.size == 1:
        return arrays
    requests = [c.Iallreduce(_mpi().IN_PLACE, a, op=mpi_op) for a in arrays]
    for a, r in zip(arrays, requests):
        wait(r, f"allreduce of {a.nbytes} bytes")
        if op == "average":
            a /= c.size
    return arrays


def broadcast(array, root=0):
    """Overwrite a C-contiguous ``array`` in place with ``root``'s (every rank passes an array of the same shape)."""
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise TypeError("broadcast: expected a C-contiguous ndarray")
    c = comm()
    if c.size > 1:
        wait(c.Ibcast(array, root=root), f"broadcast of {array.nbytes} bytes")
    return array


def broadcast_object(obj, root=0):
    """``root``'s picklable ``obj`` on every rank (the size first, then the bytes, each with the deadline)."""
    import pickle
    c = comm()
    if c.size == 1:
        return obj
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if c.rank == root else b""
    length = broadcast(np.array([len(payload)], np.int64), root)
    buf = np.frombuffer(payload, np.uint8).copy() if c.rank == root else np.empty(int(length[0]), np.uint8)
    broadcast(buf, root)
    return obj if c.rank == root else pickle.loads(buf.tobytes())
