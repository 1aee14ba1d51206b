"""Matrix products: the pure-NumPy reference (``np.matmul``)."""
import numpy as np

from ..validate import float_array, out_array, same_dtype

__all__ = ["matmul", "batched_matmul"]


def check_matmul(a, b, trans_a, trans_b, out):
    """Checked C-contiguous operands and the (M, K, N) of ``op(a) @ op(b)``."""
    a = float_array("matmul", "a", a, ndim=2)
    b = float_array("matmul", "b", b, ndim=2)
    same_dtype("matmul", a=a, b=b)
    m, k = a.shape[::-1] if trans_a else a.shape
    k2, n = b.shape[::-1] if trans_b else b.shape
    if k != k2:
        raise ValueError(f"matmul: inner dimensions differ: op(a) is ({m}, {k}) and op(b) is ({k2}, {n}) "
                         f"(a {a.shape}, trans_a={trans_a}; b {b.shape}, trans_b={trans_b})")
    out_array("matmul", out, (m, n), a.dtype)
    return a, b, m, k, n


def matmul(a, b, trans_a=False, trans_b=False, out=None):
    """``op(a) @ op(b)``, op = transpose where asked; added into ``out`` when given."""
    a, b, m, k, n = check_matmul(a, b, trans_a, trans_b, out)
    product = (a.T if trans_a else a) @ (b.T if trans_b else b)
    if out is None:
        return product
    out += product
    return out


def check_batched_matmul(a, b, trans_a, trans_b, out):
    """Checked C-contiguous operands and the (G, M, K, N) of ``op(a[g]) @ op(b[g])``."""
    a = float_array("batched_matmul", "a", a, ndim=3)
    b = float_array("batched_matmul", "b", b, ndim=3)
    same_dtype("batched_matmul", a=a, b=b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"batched_matmul: a and b must hold as many matrices, got {a.shape[0]} and {b.shape[0]} "
                         f"(a {a.shape}, b {b.shape})")
    m, k = a.shape[:0:-1] if trans_a else a.shape[1:]
    k2, n = b.shape[:0:-1] if trans_b else b.shape[1:]
    if k != k2:
        raise ValueError(f"batched_matmul: inner dimensions differ: op(a[g]) is ({m}, {k}) and op(b[g]) is "
                         f"({k2}, {n}) (a {a.shape}, trans_a={trans_a}; b {b.shape}, trans_b={trans_b})")
    g = a.shape[0]
    out_array("batched_matmul", out, (g, m, n), a.dtype)
    return a, b, g, m, k, n


def batched_matmul(a, b, trans_a=False, trans_b=False, out=None):
    """``op(a[g]) @ op(b[g])`` for every g of (G, ., .) stacks, op = transpose of the last two axes where
    asked; added into ``out`` when given."""
    a, b, g, m, k, n = check_batched_matmul(a, b, trans_a, trans_b, out)
    product = (np.swapaxes(a, 1, 2) if trans_a else a) @ (np.swapaxes(b, 1, 2) if trans_b else b)
    if out is None:
        return product
    out += product
    return out
