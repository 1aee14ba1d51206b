"""3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3), NHWC, float32/float64.

Each 2x2 block of output pixels (a tile) is computed from a 4x4 input patch
with 16 multiplies per (channel, filter) instead of 36:

    Y = A^T [ (G g G^T) . (B^T d B) ] A,   summed over input channels

With the 16 transformed positions as 16 separate matrices, the sum over
channels becomes 16 GEMMs of (tiles x C) @ (C x F): 2.25x fewer GEMM flops
than im2col, for a few passes of adds over each tile.

The kernel transform ``U = G g G^T`` (16, C, F) is done by the caller; this
file transforms input tiles, runs the GEMMs and transforms the results back.
Work is split into chunks of tiles; each OpenMP thread takes whole chunks and
keeps its transformed inputs V (16, T, C) and products M (16, T, F) in its
own buffers, sized by the caller to stay in cache.  NHWC makes every inner
loop run over contiguous channels (or filters), so gcc vectorises them.

Every argument is checked by the Python wrapper (``nnkit.backend.cython.conv``)
before it gets here.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport calloc, free, malloc

from blas cimport gemm
from denormal cimport nnkit_flush_denormals


cdef struct Tiles:
    Py_ssize_t n, h, w, c, f       # input (N, H, W, C), filters F
    Py_ssize_t oh, ow, pt, pl      # output size, top/left padding
    Py_ssize_t th, tw              # tiles per image: ceil(OH / 2) x ceil(OW / 2)


cdef inline void add3(floating* o, const floating* a, const floating* b, const floating* c,
                      floating sb, floating sc, Py_ssize_t n) noexcept nogil:
    """o = a + sb * b + sc * c (sb, sc are +-1 or 0): one simple loop that gcc vectorises."""
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
        add3(t + (0 + s) * n, d + (0 + s) * n, d + (8 + s) * n, d, -1, 0, n)
        add3(t + (4 + s) * n, d + (4 + s) * n, d + (8 + s) * n, d, 1, 0, n)
        add3(t + (8 + s) * n, d + (8 + s) * n, d + (4 + s) * n, d, -1, 0, n)
        add3(t + (12 + s) * n, d + (4 + s) * n, d + (12 + s) * n, d, -1, 0, n)
    for r in range(4):  # (B^T d) B, row r
        add3(o + (4 * r + 0) * os, t + (4 * r + 0) * n, t + (4 * r + 2) * n, t, -1, 0, n)
        add3(o + (4 * r + 1) * os, t + (4 * r + 1) * n, t + (4 * r + 2) * n, t, 1, 0, n)
        add3(o + (4 * r + 2) * os, t + (4 * r + 2) * n, t + (4 * r + 1) * n, t, -1, 0, n)
        add3(o + (4 * r + 3) * os, t + (4 * r + 1) * n, t + (4 * r + 3) * n, t, -1, 0, n)


cdef inline void transform_4x4_out(const floating* m, Py_ssize_t ms, floating* t, floating* q,
                                   Py_ssize_t n) noexcept nogil:
    """q[k * n] = (A^T M A)[k], k < 4, for 16 n-vectors m[k * ms]; t is 8 n-vectors of scratch.

    A^T combines p0..p3 as (p0 + p1 + p2, p1 - p2 - p3).
    """
    cdef Py_ssize_t s, r
    for s in range(4):  # A^T M, column s
        add3(t + s * n, m + s * ms, m + (4 + s) * ms, m + (8 + s) * ms, 1, 1, n)
        add3(t + (4 + s) * n, m + (4 + s) * ms, m + (8 + s) * ms, m + (12 + s) * ms, -1, -1, n)
    for r in range(2):  # (A^T M) A, row r
        add3(q + (2 * r) * n, t + (4 * r) * n, t + (4 * r + 1) * n, t + (4 * r + 2) * n, 1, 1, n)
        add3(q + (2 * r + 1) * n, t + (4 * r + 1) * n, t + (4 * r + 2) * n, t + (4 * r + 3) * n, -1, -1, n)


cdef void input_transform(const floating* x, const floating* zeros, floating* d, floating* v,
                          const Tiles* g, Py_ssize_t t0, Py_ssize_t nt) noexcept nogil:
    """v[k, j, :] = (B^T d B)[k] for tiles t0..t0+nt, d being each tile's 4x4 x C patch (0 outside x)."""
    cdef Py_ssize_t j, tile, img, ty, tx, r, s, iy, ix, c, C = g.c
    cdef const floating* src
    for j in range(nt):
        tile = t0 + j
        img = tile // (g.th * g.tw)
        ty = tile // g.tw % g.th
        tx = tile % g.tw
        for r in range(4):  # gather the patch into d (16 pixels x C), zeros outside the image
            iy = 2 * ty - g.pt + r
            for s in range(4):
                ix = 2 * tx - g.pl + s
                src = zeros if iy < 0 or iy >= g.h or ix < 0 or ix >= g.w else x + ((img * g.h + iy) * g.w + ix) * C
                for c in range(C):
                    d[(r * 4 + s) * C + c] = src[c]
        transform_4x4_in(d, d + 16 * C, v + j * C, nt * C, C)


cdef void output_transform(const floating* m, const floating* b, floating* q, floating* y,
                           const Tiles* g, Py_ssize_t t0, Py_ssize_t nt) noexcept nogil:
    """y's 2x2 block of each tile = A^T M A (+ b), skipping pixels past the output's edge."""
    cdef Py_ssize_t j, tile, img, ty, tx, a, e, oy, ox, f, F = g.f
    cdef floating* dst
    cdef const floating* src
    for j in range(nt):
        tile = t0 + j
        img = tile // (g.th * g.tw)
        ty = tile // g.tw % g.th
        tx = tile % g.tw
        transform_4x4_out(m + j * F, nt * F, q + 4 * F, q, F)
        for a in range(2):
            oy = 2 * ty + a
            for e in range(2):
                ox = 2 * tx + e
                if oy < g.oh and ox < g.ow:
                    dst = y + ((img * g.oh + oy) * g.ow + ox) * F
                    src = q + (a * 2 + e) * F
                    if b != NULL:
                        for f in range(F):
                            dst[f] = src[f] + b[f]
                    else:
                        for f in range(F):
                            dst[f] = src[f]


cdef void tiles_chunk(const floating* x, const floating* u, const floating* b, floating* y,
                      floating* work, const floating* zeros, const Tiles* g,
                      Py_ssize_t t0, Py_ssize_t nt, Py_ssize_t chunk) noexcept nogil:
    """Tiles t0..t0+nt: transform in, 16 GEMMs, transform out.  ``work`` is one thread's buffer."""
    cdef floating* v = work                        # (16, chunk, C)
    cdef floating* m = v + 16 * chunk * g.c        # (16, chunk, F)
    cdef floating* d = m + 16 * chunk * g.f        # (16, C) patch, then (16, C) scratch
    cdef floating* q = d + 32 * g.c                # (4, F) output block, then (8, F) scratch
    cdef Py_ssize_t k
    input_transform(x, zeros, d, v, g, t0, nt)
    for k in range(16):
        gemm(False, False, <int>nt, <int>g.f, <int>g.c, 1, v + k * nt * g.c, <int>g.c,
             u + k * g.c * g.f, <int>g.f, 0, m + k * nt * g.f, <int>g.f)
    output_transform(m, b, q, y, g, t0, nt)


def conv3x3_forward(const floating[:, :, :, ::1] x, const floating[:, :, ::1] u, const floating[::1] b,
                    floating[:, :, :, ::1] y, int pt, int pl, Py_ssize_t chunk, int nthreads):
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
    cdef Tiles g
    g.n, g.h, g.w, g.c, g.f = x.shape[0], x.shape[1], x.shape[2], x.shape[3], u.shape[2]
    g.oh, g.ow, g.pt, g.pl = y.shape[1], y.shape[2], pt, pl
    g.th, g.tw = (g.oh + 1) // 2, (g.ow + 1) // 2
    cdef Py_ssize_t total = g.n * g.th * g.tw, nchunks = (total + chunk - 1) // chunk, ch
    cdef Py_ssize_t work_size = 16 * chunk * (g.c + g.f) + 32 * g.c + 12 * g.f
    cdef const floating* bp = NULL if b is None else &b[0]
    cdef floating* zeros = <floating*>calloc(g.c, sizeof(floating))
    cdef floating* work = NULL
    cdef int failed = 0
    cdef int* failed_p = &failed
    if zeros == NULL:
        return -1
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        work = <floating*>malloc(work_size * sizeof(floating))
        if work == NULL:
            failed_p[0] = 1
        for ch in prange(nchunks, schedule='dynamic'):
            if work != NULL:
                tiles_chunk(&x[0, 0, 0, 0], &u[0, 0, 0], bp, &y[0, 0, 0, 0], work, zeros, &g,
                            ch * chunk, min(chunk, total - ch * chunk), chunk)
        free(work)
    free(zeros)
    return -1 if failed else 0
