# The bias + ReLU epilogue over a flat run: shared by the activation kernel (csrc/activation.pyx) and the
# prepared inference chains (csrc/chain.pyx).
from cython cimport floating

from runs cimport copy_run

# The loops work on raw pointers with unconditional loads, so gcc turns the
# branches into vector selects.  The bias is first tiled over a whole number
# of rows (up to BIAS_TILE values), so a block of rows is one flat loop however few
# channels there are: per-row loops over 6 channels ran 6x slower.
cdef enum:
    BIAS_TILE = 512


cdef inline void bias_relu_flat(const floating* x, const floating* bias, Py_ssize_t cols, floating* out,
                                 Py_ssize_t n, bint relu) noexcept nogil:
    """out[:n] = relu(x[:n] + bias repeated every ``cols``); n is a multiple of cols."""
    cdef floating tile[BIAS_TILE]
    cdef const floating* block = bias
    cdef Py_ssize_t i = 0, j, k, stop, period = n if bias == NULL else cols
    cdef floating v
    if bias != NULL and cols <= BIAS_TILE // 2:
        period = min((BIAS_TILE // cols) * cols, n)  # no more tile than the rows need (batch 1: one row)
        copy_run(tile, bias, cols)
        j = cols
        while j < period:  # doubling: a few long copies (a copy per row cost more than the epilogue itself)
            copy_run(tile + j, tile, min(j, period - j))
            j += min(j, period - j)
        block = tile
    while i < n:
        stop = min(period, n - i)
        if block != NULL and relu:
            for k in range(stop):
                v = x[i + k] + block[k]
                out[i + k] = 0 if v < 0 else v
        elif block != NULL:
            for k in range(stop):
                out[i + k] = x[i + k] + block[k]
        elif relu:
            for k in range(stop):
                v = x[i + k]
                out[i + k] = 0 if v < 0 else v
        elif out != x:
            for k in range(stop):
                out[i + k] = x[i + k]
        i += period
