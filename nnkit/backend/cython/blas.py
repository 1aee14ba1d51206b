"""Which BLAS the kernels' GEMMs call: Intel MKL when it is installed, else scipy's OpenBLAS.

scipy's OpenBLAS is always there.  MKL (``pip install nnkit[mkl]``) runs the
small-batch GEMMs of dense layers, im2col convolutions and recurrent steps
about 1.4x faster on Intel CPUs (measured at one thread: 143-162 vs 97-118
GFLOP/s on an MLP's shapes); PyTorch's CPU build ships it too.
``NNKIT_BLAS=openblas`` (or ``mkl``) chooses; the default ``auto`` takes MKL
when found.  Either way the kernels call the BLAS from inside their own
OpenMP workers, one call per block, so MKL runs its sequential layer: no
second thread pool beside nnkit's.

The choice is made once, at import, before any kernel runs: ``blas_info()``
says which BLAS is in use and, when MKL was wanted but not taken, why.
"""
import ctypes
import glob
import os
import sys

from nnkit._ext import chain, conv, gemm, rnn, winograd

__all__ = ["blas_info"]

_MODULES = (chain, conv, gemm, rnn, winograd)  # every kernel module that calls sgemm/dgemm
_MKL_SEQUENTIAL = 1  # MKL_THREADING_SEQUENTIAL in mkl_service.h
_CHOICES = ("auto", "mkl", "openblas")

_info = {"name": "openblas", "library": "scipy.linalg.cython_blas", "reason": "not chosen yet"}


def blas_info():
    """``{'name': 'mkl' or 'openblas', 'library': path, 'reason': why this one}``."""
    return dict(_info)


def _mkl_candidates():
    """Where the ``mkl`` wheel (or a system MKL) keeps libmkl_rt: this environment's lib/ first."""
    found = []
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(sys.executable)))):
        found += sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")), reverse=True)
    return found + ["libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"]  # then the loader's own search path


def _load_mkl():
    """``(library, sgemm address, dgemm address)`` of a sequential MKL, or a string saying why not."""
    errors = []
    for path in _mkl_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
            continue
        layer = lib.MKL_Set_Threading_Layer(ctypes.c_int(_MKL_SEQUENTIAL))
        if layer != _MKL_SEQUENTIAL:  # MKL was already started by another library, with its own threads
            return (f"{path} runs threading layer {layer}, not the sequential one nnkit calls from its workers "
                    f"(set MKL_THREADING_LAYER=SEQUENTIAL)")
        return path, _address(lib.sgemm_), _address(lib.dgemm_)
    return "MKL is not installed (pip install nnkit[mkl])" if errors else "no libmkl_rt found"


def _address(function):
    return ctypes.cast(function, ctypes.c_void_p).value


def _install(sgemm_address, dgemm_address):
    for module in _MODULES:
        module._use_blas(sgemm_address, dgemm_address)


def _choose():
    wanted = os.environ.get("NNKIT_BLAS", "auto").strip().lower() or "auto"
    if wanted not in _CHOICES:
        raise ValueError(f"NNKIT_BLAS: expected one of {', '.join(_CHOICES)}, got {wanted!r}")
    if wanted == "openblas":
        _install(0, 0)
        _info.update(name="openblas", library="scipy.linalg.cython_blas", reason="NNKIT_BLAS=openblas")
        return
    mkl = _load_mkl()
    if isinstance(mkl, str):
        if wanted == "mkl":
            raise ImportError(f"NNKIT_BLAS=mkl: {mkl}")
        _install(0, 0)
        _info.update(name="openblas", library="scipy.linalg.cython_blas", reason=mkl)
        return
    path, sgemm_address, dgemm_address = mkl
    _install(sgemm_address, dgemm_address)
    _info.update(name="mkl", library=path, reason=f"NNKIT_BLAS={wanted}")


_choose()
