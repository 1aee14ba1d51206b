# DIRECT (forward only): stride 1, no dilation, one group, few channels and filters.  The input rows of a
# few output rows are laid out channel-major and zero-padded, once, then conv_direct.h sums 16 output
# pixels of several filters at a time in registers; prange over those tasks, a row buffer per thread.
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc

from conv_geometry cimport ConvGeometry
from denormal cimport nnkit_flush_denormals


cdef extern from "conv_direct.h" nogil:
    int NNKIT_DIRECT_BLOCK
    void nnkit_direct_row_f32(const float* const* rows, Py_ssize_t pw, Py_ssize_t ch, const float* w,
                              const float* bias, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t f, float* y_row,
                              Py_ssize_t ow_count)
    void nnkit_direct_row_f64(const double* const* rows, Py_ssize_t pw, Py_ssize_t ch, const double* w,
                              const double* bias, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t f, double* y_row,
                              Py_ssize_t ow_count)
    # over filters: (x image, h, w, c, kernel, bias, kh, kw, f, oh, pt, pl, y row, ow)
    void nnkit_direct_filters16_f32(const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*, const float*,
                                    Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                    float*, Py_ssize_t)
    void nnkit_direct_filters8_f32(const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*, const float*,
                                   Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                   float*, Py_ssize_t)
    void nnkit_direct_filters16_f64(const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double*,
                                    const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                    Py_ssize_t, double*, Py_ssize_t)
    void nnkit_direct_filters8_f64(const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double*,
                                   const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                   Py_ssize_t, double*, Py_ssize_t)


cdef enum:
    DIRECT_ROWS = 8  # output rows per task: their input rows are laid out once for all of them


cdef inline Py_ssize_t direct_row_width(const ConvGeometry* g) noexcept nogil:
    """Values per channel of a laid-out input row: whole blocks of output pixels plus the taps' reach."""
    return (g.ow + NNKIT_DIRECT_BLOCK - 1) // NNKIT_DIRECT_BLOCK * NNKIT_DIRECT_BLOCK + g.kw - 1


cdef inline void lay_out_row(const floating* xrow, floating* dst, const ConvGeometry* g,
                             Py_ssize_t pw) noexcept nogil:
    """One input row (W, C) as C runs of pw values: pl zeros, the row's channel c, zeros to the end."""
    cdef Py_ssize_t c, q
    cdef floating* d
    for c in range(g.c):
        d = dst + c * pw
        for q in range(g.pl):
            d[q] = 0
        for q in range(g.w):
            d[g.pl + q] = xrow[q * g.c + c]
        for q in range(g.pl + g.w, pw):
            d[q] = 0


cdef inline void direct_rows(const floating* x, const floating* w, const floating* b, floating* y,
                             floating* buf, const floating** rows, const ConvGeometry* g,
                             Py_ssize_t n, Py_ssize_t oh0, Py_ssize_t oh1) noexcept nogil:
    """Output rows oh0..oh1 of image n: lay out each input row they read once, then sum row by row."""
    cdef Py_ssize_t i, oh, ih, pw = direct_row_width(g), size = g.c * pw
    cdef Py_ssize_t ih0 = max(oh0 - g.pt, 0), ih1 = min(oh1 - 1 - g.pt + g.kh, g.h)
    for ih in range(ih0, ih1):
        lay_out_row(x + (n * g.h + ih) * g.w * g.c, buf + (ih - ih0) * size, g, pw)
    for oh in range(oh0, oh1):
        for i in range(g.kh):
            ih = oh - g.pt + i
            rows[i] = buf + (ih - ih0) * size if 0 <= ih < g.h else NULL
        if floating is float:
            nnkit_direct_row_f32(rows, pw, g.c, w, b, g.kh, g.kw, g.f, y + (n * g.oh + oh) * g.ow * g.f, g.ow)
        else:
            nnkit_direct_row_f64(rows, pw, g.c, w, b, g.kh, g.kw, g.f, y + (n * g.oh + oh) * g.ow * g.f, g.ow)


cdef inline void direct_filters_row(const floating* x, const floating* w, const floating* b, floating* y,
                                    const ConvGeometry* g, Py_ssize_t n, Py_ssize_t oh) noexcept nogil:
    """Output row (n, oh) by the kernel over filters (F a multiple of 8), reading x in place."""
    cdef const floating* image = x + n * g.h * g.w * g.c
    cdef floating* y_row = y + (n * g.oh + oh) * g.ow * g.f
    if floating is float:
        if g.f % 16 == 0:
            nnkit_direct_filters16_f32(image, g.h, g.w, g.c, w, b, g.kh, g.kw, g.f, oh, g.pt, g.pl, y_row, g.ow)
        else:
            nnkit_direct_filters8_f32(image, g.h, g.w, g.c, w, b, g.kh, g.kw, g.f, oh, g.pt, g.pl, y_row, g.ow)
    else:
        if g.f % 16 == 0:
            nnkit_direct_filters16_f64(image, g.h, g.w, g.c, w, b, g.kh, g.kw, g.f, oh, g.pt, g.pl, y_row, g.ow)
        else:
            nnkit_direct_filters8_f64(image, g.h, g.w, g.c, w, b, g.kh, g.kw, g.f, oh, g.pt, g.pl, y_row, g.ow)


cdef inline Py_ssize_t direct_tasks(const ConvGeometry* g) noexcept nogil:
    """The direct forward's tasks: an output row each over filters (F a multiple of 8), else DIRECT_ROWS output
    rows of one image over pixels."""
    if g.f % 8 == 0:
        return g.n * g.oh
    return g.n * ((g.oh + DIRECT_ROWS - 1) // DIRECT_ROWS)


cdef inline Py_ssize_t direct_buffer_size(const ConvGeometry* g) noexcept nogil:
    """Values of one thread's laid-out input rows (none over filters, which read x in place)."""
    return 0 if g.f % 8 == 0 else (DIRECT_ROWS + g.kh) * g.c * direct_row_width(g)


cdef inline void direct_task(const floating* x, const floating* w, const floating* b, floating* y, floating* buf,
                             const floating** rows, const ConvGeometry* g, Py_ssize_t t) noexcept nogil:
    """Task t of ``direct_tasks``; buf holds ``direct_buffer_size`` values, rows g.kh pointers."""
    cdef Py_ssize_t per_image = (g.oh + DIRECT_ROWS - 1) // DIRECT_ROWS
    if g.f % 8 == 0:
        direct_filters_row(x, w, b, y, g, t // g.oh, t % g.oh)
    else:
        direct_rows(x, w, b, y, buf, rows, g, t // per_image, (t % per_image) * DIRECT_ROWS,
                    min((t % per_image + 1) * DIRECT_ROWS, g.oh))


cdef inline int direct_forward(const floating* x, const floating* w, const floating* b, floating* y,
                               const ConvGeometry* g) noexcept nogil:
    """y = conv(x, w) + b, ``direct_tasks`` shared out by OpenMP (each output row's values do not depend on
    which thread computes it); -1 when a thread's buffers cannot be allocated."""
    cdef Py_ssize_t t
    cdef int failed = 0
    cdef int* failed_p = &failed
    cdef floating* buf = NULL
    cdef const floating** rows = NULL
    with parallel(num_threads=g.nthreads):
        nnkit_flush_denormals()
        buf = <floating*>malloc((direct_buffer_size(g) + 1) * sizeof(floating))
        rows = <const floating**>malloc(g.kh * sizeof(floating*))
        if buf == NULL or rows == NULL:
            failed_p[0] = 1
        for t in prange(direct_tasks(g), schedule='static'):
            if buf != NULL and rows != NULL:
                direct_task(x, w, b, y, buf, rows, g, t)
        free(buf)
        free(<void*>rows)
    return -failed
