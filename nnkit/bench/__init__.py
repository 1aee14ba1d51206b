"""Side-by-side benchmarks: nnkit's Cython kernels, its NumPy reference and
PyTorch's CPU build (when installed), alternating in one run, with the BLAS
sgemm roofline measured in the same run at the same thread count.

``nnkit bench`` (or ``python -m nnkit bench``) prints the table and writes JSON.
"""
from nnkit.bench.cli import main

__all__ = ["main"]
