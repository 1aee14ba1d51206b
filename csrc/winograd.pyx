"""3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3), NHWC, float32/float64.

Each 2x2 block of output pixels (a tile) is computed from a 4x4 input patch
with 16 multiplies per (channel, filter) instead of 36:

    Y = A^T [ (G g G^T) . (B^T d B) ] A,   summed over input channels

With the 16 transformed positions as 16 separate matrices, the sum over
channels becomes 16 GEMMs of (tiles x C) @ (C x F): 2.25x fewer GEMM flops
than im2col, for a few passes of adds over each tile.

The kernel transform ``U = G g G^T`` (16, C, F) is done by the caller; this
file transforms input tiles, runs the GEMMs and transforms the results back.

The weight gradient is the same trick with the roles turned (F(3x3, 2x2)): each
output tile's 2x2 block of dy acts as the filter over the tile's 4x4 input
patch, giving that tile's 3x3 contribution to dw:

    dw = G^T [ sum over tiles (A dy A^T) . (B^T d B) ] G

so the sum over tiles becomes 16 GEMMs of (C x tiles) @ (tiles x F), each
thread accumulating its own 16 x C x F partial (summed by the caller in a
fixed order, as is the G^T . G transform).
Work is split into chunks of tiles; each OpenMP thread takes whole chunks and
keeps its transformed inputs V (16, T, C) and products M (16, T, F) in its
own buffers, sized by the caller to stay in cache.  NHWC makes every inner
loop run over contiguous channels (or filters), so gcc vectorises them.

Every argument is checked by the Python wrapper (``nnkit.backend.cython.conv``)
before it gets here.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport calloc, free, malloc

from blas cimport gemm, set_blas_int_max, use_blas
from conv_geometry cimport ConvGeometry, conv_geometry
from denormal cimport nnkit_flush_denormals


# The transforms' combinations, one simple loop each that gcc vectorises.  Every
# coefficient is +1 or -1: exact, and an inf input never meets a 0 (0 * inf is NaN).
cdef inline void scaled(floating* o, const floating* a, floating sa, Py_ssize_t n) noexcept nogil:
    """o = sa * a."""
    cdef Py_ssize_t i
    for i in range(n):
        o[i] = sa * a[i]


cdef inline void lin2(floating* o, const floating* a, const floating* b, floating sb, Py_ssize_t n) noexcept nogil:
    """o = a + sb * b."""
    cdef Py_ssize_t i
    for i in range(n):
        o[i] = a[i] + sb * b[i]


cdef inline void lin3(floating* o, const floating* a, const floating* b, const floating* c,
                      floating sb, floating sc, Py_ssize_t n) noexcept nogil:
    """o = a + sb * b + sc * c."""
    cdef Py_ssize_t i
    for i in range(n):
        o[i] = a[i] + sb * b[i] + sc * c[i]


cdef inline void transform_4x4_in(const floating* d, floating* t, floating* o, Py_ssize_t os,
                                  Py_ssize_t n) noexcept nogil:
    """o[k * os] = (B^T d B)[k] for a 4x4 patch d of n-vectors (d[k * n]); t is 16 n-vectors of scratch.

    B^T combines rows (or columns) p0..p3 as (p0 - p2, p1 + p2, p2 - p1, p1 - p3).
    """
    cdef Py_ssize_t s, r
    for s in range(4):  # B^T d, column s
        lin2(t + (0 + s) * n, d + (0 + s) * n, d + (8 + s) * n, -1, n)
        lin2(t + (4 + s) * n, d + (4 + s) * n, d + (8 + s) * n, 1, n)
        lin2(t + (8 + s) * n, d + (8 + s) * n, d + (4 + s) * n, -1, n)
        lin2(t + (12 + s) * n, d + (4 + s) * n, d + (12 + s) * n, -1, n)
    for r in range(4):  # (B^T d) B, row r
        lin2(o + (4 * r + 0) * os, t + (4 * r + 0) * n, t + (4 * r + 2) * n, -1, n)
        lin2(o + (4 * r + 1) * os, t + (4 * r + 1) * n, t + (4 * r + 2) * n, 1, n)
        lin2(o + (4 * r + 2) * os, t + (4 * r + 2) * n, t + (4 * r + 1) * n, -1, n)
        lin2(o + (4 * r + 3) * os, t + (4 * r + 1) * n, t + (4 * r + 3) * n, -1, n)


cdef inline void transform_4x4_out(const floating* m, Py_ssize_t ms, floating* t, floating* q,
                                   Py_ssize_t n) noexcept nogil:
    """q[k * n] = (A^T M A)[k], k < 4, for 16 n-vectors m[k * ms]; t is 8 n-vectors of scratch.

    A^T combines p0..p3 as (p0 + p1 + p2, p1 - p2 - p3).
    """
    cdef Py_ssize_t s, r
    for s in range(4):  # A^T M, column s
        lin3(t + s * n, m + s * ms, m + (4 + s) * ms, m + (8 + s) * ms, 1, 1, n)
        lin3(t + (4 + s) * n, m + (4 + s) * ms, m + (8 + s) * ms, m + (12 + s) * ms, -1, -1, n)
    for r in range(2):  # (A^T M) A, row r
        lin3(q + (2 * r) * n, t + (4 * r) * n, t + (4 * r + 1) * n, t + (4 * r + 2) * n, 1, 1, n)
        lin3(q + (2 * r + 1) * n, t + (4 * r + 1) * n, t + (4 * r + 2) * n, t + (4 * r + 3) * n, -1, -1, n)


cdef inline Py_ssize_t tile_rows(const ConvGeometry* g) noexcept nogil:
    """Tiles down an image: ceil(OH / 2)."""
    return (g.oh + 1) // 2


cdef inline Py_ssize_t tile_cols(const ConvGeometry* g) noexcept nogil:
    """Tiles across an image: ceil(OW / 2)."""
    return (g.ow + 1) // 2


cdef inline Py_ssize_t work_size(const ConvGeometry* g, Py_ssize_t chunk) noexcept nogil:
    """One thread's buffer: 16 x chunk x (C + F) transformed values, a 16 x C patch with its scratch,
    a 4 x F output block with its scratch."""
    return 16 * chunk * (g.c + g.f) + 32 * g.c + 12 * g.f


cdef void gather(const floating* a, Py_ssize_t h, Py_ssize_t w, Py_ssize_t n, const floating* zeros,
                 Py_ssize_t img, Py_ssize_t y0, Py_ssize_t x0, Py_ssize_t size, floating* d) noexcept nogil:
    """d = the size x size patch of the (., h, w, n) array a at (img, y0, x0), zeros outside it."""
    cdef Py_ssize_t r, s, i, iy, ix
    cdef const floating* src
    for r in range(size):
        iy = y0 + r
        for s in range(size):
            ix = x0 + s
            src = zeros if iy < 0 or iy >= h or ix < 0 or ix >= w else a + ((img * h + iy) * w + ix) * n
            for i in range(n):
                d[(r * size + s) * n + i] = src[i]


cdef inline void tile_origin(const ConvGeometry* g, Py_ssize_t tile, Py_ssize_t* img, Py_ssize_t* oy,
                             Py_ssize_t* ox) noexcept nogil:
    """The image and the top-left output pixel of a tile."""
    cdef Py_ssize_t th = tile_rows(g), tw = tile_cols(g)
    img[0] = tile // (th * tw)
    oy[0] = 2 * (tile // tw % th)
    ox[0] = 2 * (tile % tw)


cdef void input_transform(const floating* x, const floating* zeros, floating* d, floating* v,
                          const ConvGeometry* g, Py_ssize_t t0, Py_ssize_t nt) noexcept nogil:
    """v[k, j, :] = (B^T d B)[k] for tiles t0..t0+nt, d being each tile's 4x4 x C patch (0 outside x)."""
    cdef Py_ssize_t j, img, oy, ox
    for j in range(nt):
        tile_origin(g, t0 + j, &img, &oy, &ox)
        gather(x, g.h, g.w, g.c, zeros, img, oy - g.pt, ox - g.pl, 4, d)
        transform_4x4_in(d, d + 16 * g.c, v + j * g.c, nt * g.c, g.c)


cdef void output_transform(const floating* m, const floating* b, floating* q, floating* y,
                           const ConvGeometry* g, Py_ssize_t t0, Py_ssize_t nt) noexcept nogil:
    """y's 2x2 block of each tile = A^T M A (+ b), skipping pixels past the output's edge."""
    cdef Py_ssize_t j, img, oy, ox, a, e, f, F = g.f
    cdef floating* dst
    cdef const floating* src
    for j in range(nt):
        tile_origin(g, t0 + j, &img, &oy, &ox)
        transform_4x4_out(m + j * F, nt * F, q + 4 * F, q, F)
        for a in range(2):
            for e in range(2):
                if oy + a < g.oh and ox + e < g.ow:
                    dst = y + ((img * g.oh + oy + a) * g.ow + ox + e) * F
                    src = q + (a * 2 + e) * F
                    if b != NULL:
                        for f in range(F):
                            dst[f] = src[f] + b[f]
                    else:
                        for f in range(F):
                            dst[f] = src[f]


cdef inline void transform_2x2_dy(const floating* p, floating* t, floating* o, Py_ssize_t os,
                                  Py_ssize_t n) noexcept nogil:
    """o[k * os] = (A p A^T)[k] for a 2x2 block p of n-vectors (p[k * n]); t is 8 n-vectors of scratch.

    A (4 x 2) turns (p0, p1) into (p0, p0 + p1, p0 - p1, -p1).
    """
    cdef Py_ssize_t s, r
    for s in range(2):  # A p, column s
        scaled(t + (0 + s) * n, p + s * n, 1, n)
        lin2(t + (2 + s) * n, p + s * n, p + (2 + s) * n, 1, n)
        lin2(t + (4 + s) * n, p + s * n, p + (2 + s) * n, -1, n)
        scaled(t + (6 + s) * n, p + (2 + s) * n, -1, n)
    for r in range(4):  # (A p) A^T, row r
        scaled(o + (4 * r + 0) * os, t + (2 * r) * n, 1, n)
        lin2(o + (4 * r + 1) * os, t + (2 * r) * n, t + (2 * r + 1) * n, 1, n)
        lin2(o + (4 * r + 2) * os, t + (2 * r) * n, t + (2 * r + 1) * n, -1, n)
        scaled(o + (4 * r + 3) * os, t + (2 * r + 1) * n, -1, n)


cdef void dw_chunk(const floating* x, const floating* dy, floating* acc, floating* work,
                   const floating* zeros, const ConvGeometry* g, Py_ssize_t t0, Py_ssize_t nt,
                   Py_ssize_t chunk) noexcept nogil:
    """acc[k] (C x F) += V[k]^T @ D[k] over tiles t0..t0+nt (V: input tiles, D: dy blocks, transformed)."""
    cdef floating* v = work                        # (16, chunk, C)
    cdef floating* dd = v + 16 * chunk * g.c       # (16, chunk, F)
    cdef floating* d = dd + 16 * chunk * g.f       # (16, C) patch, then (16, C) scratch
    cdef floating* p = d + 32 * g.c                # (4, F) dy block, then (8, F) scratch
    cdef Py_ssize_t j, k, img, oy, ox
    input_transform(x, zeros, d, v, g, t0, nt)
    for j in range(nt):
        tile_origin(g, t0 + j, &img, &oy, &ox)
        gather(dy, g.oh, g.ow, g.f, zeros, img, oy, ox, 2, p)
        transform_2x2_dy(p, p + 4 * g.f, dd + j * g.f, nt * g.f, g.f)
    for k in range(16):
        gemm(True, False, g.c, g.f, nt, 1, v + k * nt * g.c, g.c,
             dd + k * nt * g.f, g.f, 1, acc + k * g.c * g.f, g.f)


cdef void tiles_chunk(const floating* x, const floating* u, const floating* b, floating* y,
                      floating* work, const floating* zeros, const ConvGeometry* g,
                      Py_ssize_t t0, Py_ssize_t nt, Py_ssize_t chunk) noexcept nogil:
    """Tiles t0..t0+nt: transform in, 16 GEMMs, transform out.  ``work`` is one thread's buffer."""
    cdef floating* v = work                        # (16, chunk, C)
    cdef floating* m = v + 16 * chunk * g.c        # (16, chunk, F)
    cdef floating* d = m + 16 * chunk * g.f        # (16, C) patch, then (16, C) scratch
    cdef floating* q = d + 32 * g.c                # (4, F) output block, then (8, F) scratch
    cdef Py_ssize_t k
    input_transform(x, zeros, d, v, g, t0, nt)
    for k in range(16):
        gemm(False, False, nt, g.f, g.c, 1, v + k * nt * g.c, g.c,
             u + k * g.c * g.f, g.f, 0, m + k * nt * g.f, g.f)
    output_transform(m, b, q, y, g, t0, nt)


def conv3x3_forward(const floating[:, :, :, ::1] x, const floating[:, :, ::1] u, const floating[::1] b,
                    floating[:, :, :, ::1] y, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t chunk, int nthreads):
    """y = conv2d(x, w) + b for a 3x3 kernel, stride 1, given ``u = G w G^T``.

    Parameters
    ----------
    x : (N, H, W, C), IN
    u : (16, C, F), IN: the transformed kernel
    b : (F,) or None, IN
    y : (N, OH, OW, F), OUT (fully written); OH = H + pt + pb - 2
    pt, pl : top and left padding (bottom/right are implied by y's shape)
    chunk : tiles per GEMM batch
    nthreads : OpenMP threads

    Returns 0, or -1 when out of memory.
    """
    cdef ConvGeometry g = conv_geometry(x.shape, 3, 3, u.shape[2], y.shape[1], y.shape[2], 1, 1, pt, pl, 1, 1, 1,
                                        nthreads)
    cdef Py_ssize_t total = g.n * tile_rows(&g) * tile_cols(&g), nchunks = (total + chunk - 1) // chunk, ch
    cdef const floating* bp = NULL if b is None else &b[0]
    cdef floating* zeros = <floating*>calloc(g.c, sizeof(floating))
    cdef floating* work = NULL
    cdef int failed = 0
    cdef int* failed_p = &failed
    if zeros == NULL:
        return -1
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        work = <floating*>malloc(work_size(&g, chunk) * sizeof(floating))
        if work == NULL:
            failed_p[0] = 1
        for ch in prange(nchunks, schedule='dynamic'):
            if work != NULL:
                tiles_chunk(&x[0, 0, 0, 0], &u[0, 0, 0], bp, &y[0, 0, 0, 0], work, zeros, &g,
                            ch * chunk, min(chunk, total - ch * chunk), chunk)
        free(work)
    free(zeros)
    return -1 if failed else 0


def conv3x3_weight_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] m,
                        Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t chunk, int nthreads):
    """Per-thread partial sums of the transformed weight gradient of a 3x3 stride-1 convolution.

    Parameters
    ----------
    x : (N, H, W, C), IN
    dy : (N, OH, OW, F), IN
    m : (nthreads, 16, C, F), OUT: thread t's tiles' sum of (B^T d B)^T (A dy A^T); the caller sums
        the partials and applies dw = G^T m G
    pt, pl : top and left padding
    chunk : tiles per GEMM batch
    nthreads : OpenMP threads (chunks are dealt statically, so each partial is the same every run)

    Returns 0, or -1 when out of memory.
    """
    cdef ConvGeometry g = conv_geometry(x.shape, 3, 3, dy.shape[3], dy.shape[1], dy.shape[2], 1, 1, pt, pl, 1, 1, 1,
                                        nthreads)
    cdef Py_ssize_t total = g.n * tile_rows(&g) * tile_cols(&g), nchunks = (total + chunk - 1) // chunk, ch
    cdef floating* zeros = <floating*>calloc(max(g.c, g.f), sizeof(floating))
    cdef floating* work = NULL
    cdef int failed = 0
    cdef int* failed_p = &failed
    if zeros == NULL:
        return -1
    m[:, :, :, :] = 0
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        work = <floating*>malloc(work_size(&g, chunk) * sizeof(floating))
        if work == NULL:
            failed_p[0] = 1
        for ch in prange(nchunks, schedule='static'):
            if work != NULL:
                dw_chunk(&x[0, 0, 0, 0], &dy[0, 0, 0, 0], &m[threadid(), 0, 0, 0], work, zeros, &g,
                         ch * chunk, min(chunk, total - ch * chunk), chunk)
        free(work)
    free(zeros)
    return -1 if failed else 0


def _set_blas_int_max(Py_ssize_t limit):
    """Tests only: cut this module's GEMMs at ``limit`` instead of INT_MAX; returns the previous limit."""
    return set_blas_int_max(limit)


def _use_blas(size_t sgemm_address, size_t dgemm_address):
    """This module's GEMMs call the Fortran sgemm_/dgemm_ at these addresses (0, 0: scipy's); see
    nnkit.backend.cython.blas, the one caller."""
    use_blas(sgemm_address, dgemm_address)
