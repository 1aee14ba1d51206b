"""Inference chains: a run of conv, max-pool and dense layers as one call of C steps (float32/float64).

At batch 1 a kernel's work takes a few microseconds, and so does each Python
call around it: the wrapper's checks, typed-memoryview acquisition, the
output's allocation, an OpenMP region.  A ``Chain`` is built once for one
input shape by ``nnkit.backend.cython.chain`` (which checks everything); it
holds each step's geometry, every intermediate buffer and the im2col
workspace, and the weight arrays.  A call checks the input and that the
weights are the very arrays it was built with, then runs all the steps on
raw pointers and returns a fresh output array.

Each step runs the code of the kernel it stands for, in the same order
(``forward_chunk`` of conv_chunk.pxd chunk by chunk, the BLAS GEMM that
``gemm.matmul`` makes, ``bias_relu_flat``, max pooling's strict ``>`` in
row-major window order), on one thread: chains are built only where every
kernel would run on one thread, so the bits equal the kernels'.

The GIL stays held while a chain runs: its buffers are shared by every call.
"""
cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport free, malloc

from bias_relu cimport bias_relu_flat
from blas cimport gemm, use_blas
from conv_chunk cimport ALGO_DIRECT, ALGO_POINTWISE, forward_chunk
from conv_direct cimport direct_buffer_size, direct_task, direct_tasks
from conv_geometry cimport ConvGeometry, conv_geometry
from pool_geometry cimport Geometry, _window

import numpy as np

cnp.import_array()

cdef enum StepKind:
    CONV = 0
    MAX_POOL = 1
    DENSE = 2


cdef struct Step:
    int kind
    int w, b_gemm, b_after      # weight slots: kernel, bias added before the GEMM, bias of the epilogue (-1: none)
    bint relu                   # the epilogue clamps at 0
    ConvGeometry conv           # CONV
    int algorithm
    Py_ssize_t chunk_rows
    Geometry pool               # MAX_POOL
    Py_ssize_t m, n, k          # DENSE: (m, k) @ (k, n)


# ----------------------------------------------------------------------------- the steps

cdef void _epilogue(floating* y, const floating* b, Py_ssize_t cols, Py_ssize_t n, bint relu) noexcept nogil:
    """y = relu(y + b) in place, as ``activation.bias_relu`` computes it (nothing when neither is asked)."""
    if b != NULL or relu:
        bias_relu_flat(y, b, cols, y, n, relu)


cdef enum:
    MAX_DIRECT_TAPS = 16  # kernel rows a chained DIRECT convolution may have (its row table is on the stack)


cdef void _direct(const floating* x, const floating* w, const floating* b, floating* y, floating* buf,
                  const ConvGeometry* g) noexcept nogil:
    """``direct_forward`` on one thread: its tasks in order."""
    cdef Py_ssize_t t
    cdef const floating* rows[MAX_DIRECT_TAPS]
    for t in range(direct_tasks(g)):
        direct_task(x, w, b, y, buf, rows, g, t)


cdef void _conv(const Step* s, const floating* x, floating* y, floating** weights, floating* workspace) noexcept nogil:
    """``conv.conv2d_forward`` on one thread: its chunks in order, then the epilogue of each."""
    cdef const ConvGeometry* g = &s.conv
    cdef Py_ssize_t r0, r1, rows = g.n * g.oh
    cdef floating* b_gemm = NULL if s.b_gemm < 0 else weights[s.b_gemm]
    cdef floating* b_after = NULL if s.b_after < 0 else weights[s.b_after]
    if s.algorithm == ALGO_DIRECT:
        _direct(x, weights[s.w], b_gemm, y, workspace, g)
        _epilogue(y, b_after, g.f, rows * g.ow * g.f, s.relu)
        return
    r0 = 0
    while r0 < rows:
        r1 = min(r0 + s.chunk_rows, rows)
        forward_chunk(x, weights[s.w], b_gemm, y, workspace, g, r0, r1, s.algorithm)
        _epilogue(y + r0 * g.ow * g.f, b_after, g.f, (r1 - r0) * g.ow * g.f, s.relu)
        r0 = r1


cdef void _max_pool(const Geometry* g, const floating* x, floating* y) noexcept nogil:
    """``pool.max_pool2d_forward``'s values: each window's first real element, replaced by any strictly
    greater one in row-major order (so NaN and signed zeros come out as the kernel has them)."""
    cdef Py_ssize_t n, oh, ow, h, w, c, h0, h1, w0, w1, C = g.C
    cdef const floating* image
    cdef const floating* xp
    cdef floating* yp
    cdef floating v, m
    cdef bint whole = g.top == 0 and g.left == 0 and (g.OH - 1) * g.sh + g.ph <= g.H and \
        (g.OW - 1) * g.sw + g.pw <= g.W
    for n in range(g.N):
        image = x + n * g.H * g.W * C
        for oh in range(g.OH):
            yp = y + (n * g.OH + oh) * g.OW * C
            if whole:
                _max_pool_whole_row(g, image + oh * g.sh * g.W * C, yp)
                continue
            for ow in range(g.OW):
                _window(g, oh, ow, &h0, &h1, &w0, &w1)
                xp = image + (h0 * g.W + w0) * C
                for c in range(C):
                    yp[ow * C + c] = xp[c]
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        xp = image + (h * g.W + w) * C
                        for c in range(C):
                            v = xp[c]
                            m = yp[ow * C + c]
                            yp[ow * C + c] = v if v > m else m


cdef void _max_pool_whole_row(const Geometry* g, const floating* top, floating* y) noexcept nogil:
    """One output row of windows that lie wholly inside the image (``top``: their first input row): tap by
    tap in row-major order, each a pass along the row, so no window bounds are worked out."""
    cdef Py_ssize_t ow, i, j, c, C = g.C, step = g.sw * C
    cdef const floating* src
    cdef floating* d
    cdef floating v, m
    for ow in range(g.OW):
        for c in range(C):
            y[ow * C + c] = top[ow * step + c]
    for i in range(g.ph):
        for j in range(g.pw):
            if i == 0 and j == 0:
                continue
            src = top + (i * g.W + j) * C
            for ow in range(g.OW):
                d = y + ow * C
                for c in range(C):
                    v = src[ow * step + c]
                    m = d[c]
                    d[c] = v if v > m else m


cdef void _dense(const Step* s, const floating* x, floating* y, floating** weights) noexcept nogil:
    """``gemm.matmul`` on one thread (one BLAS call), then the epilogue."""
    gemm(False, False, s.m, s.n, s.k, 1, x, s.k, weights[s.w], s.n, 0, y, s.n)
    _epilogue(y, NULL if s.b_after < 0 else weights[s.b_after], s.n, s.m * s.n, s.relu)


cdef void _run(const Step* steps, int count, floating** buffers, floating** weights,
               floating* workspace) noexcept nogil:
    """Step i reads buffers[i] and writes buffers[i + 1]."""
    cdef int i
    for i in range(count):
        if steps[i].kind == CONV:
            _conv(&steps[i], buffers[i], buffers[i + 1], weights, workspace)
        elif steps[i].kind == MAX_POOL:
            _max_pool(&steps[i].pool, buffers[i], buffers[i + 1])
        else:
            _dense(&steps[i], buffers[i], buffers[i + 1], weights)


# ----------------------------------------------------------------------------- the chain

cdef class Chain:
    """``chain(x, weights)``: the steps' output for ``x``, a fresh array; None when ``x`` is not a C-contiguous
    array of the chain's input shape and dtype, or ``weights`` are not the very arrays it was built with.

    Built by ``nnkit.backend.cython.chain.ChainBuilder``, which checks every argument of the ``add_*`` calls.
    """
    cdef Step* steps
    cdef int count, capacity
    cdef int typenum
    cdef tuple in_shape, out_shape
    cdef list weights         # the arrays the steps read, by slot
    cdef list buffers         # each step's output but the last (which is the call's fresh array)
    cdef cnp.ndarray workspace
    cdef void** weight_data
    cdef void** buffer_data
    cdef int in_ndim, out_ndim
    cdef cnp.npy_intp in_dims[8]
    cdef cnp.npy_intp out_dims[8]

    def __cinit__(self, in_shape, dtype):
        self.typenum = np.dtype(dtype).num
        self.in_shape = tuple(in_shape)
        self.out_shape = self.in_shape
        self.weights, self.buffers = [], []
        self.workspace = np.empty(0, dtype)

    def __dealloc__(self):
        free(self.steps)
        free(self.weight_data)
        free(self.buffer_data)

    cdef Step* _add(self, int kind, tuple out_shape) except NULL:
        cdef Step* grown
        if self.buffer_data != NULL:  # finish() fixed the buffer table for the steps it saw
            raise ValueError("inference chain: finished; no more steps")
        if self.count == self.capacity:
            grown = <Step*>malloc((2 * self.capacity + 4) * sizeof(Step))
            if grown == NULL:
                raise MemoryError("inference chain: out of memory for its steps")
            for i in range(self.count):
                grown[i] = self.steps[i]
            free(self.steps)
            self.steps, self.capacity = grown, 2 * self.capacity + 4
        if self.count:  # the previous step's output becomes a buffer
            self.buffers.append(np.empty(self.out_shape, np.dtype(self.workspace.dtype)))
        cdef Step* s = &self.steps[self.count]
        s.kind, s.w, s.b_gemm, s.b_after, s.relu = kind, -1, -1, -1, False
        self.count += 1
        self.out_shape = out_shape
        return s

    cdef int _slot(self, cnp.ndarray array):
        if array is None:
            return -1
        self.weights.append(array)
        return len(self.weights) - 1

    def add_conv2d(self, cnp.ndarray w not None, cnp.ndarray b_gemm, cnp.ndarray b_after, bint relu,
                   tuple out_shape, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dil_h,
                   Py_ssize_t dil_w, Py_ssize_t groups, int algorithm, Py_ssize_t chunk_rows):
        """A convolution of the current output (IM2COL, IM2COL_T, POINTWISE or DIRECT) into ``out_shape``."""
        cdef Py_ssize_t x_shape[4]
        for i in range(4):
            x_shape[i] = self.out_shape[i]
        cdef ConvGeometry g = conv_geometry(x_shape, w.shape[0], w.shape[1], w.shape[3], out_shape[1],
                                            out_shape[2], sh, sw, pt, pl, dil_h, dil_w, groups, 1)
        cdef Py_ssize_t size = chunk_rows * g.ow * g.k  # im2col's columns
        if algorithm == ALGO_DIRECT:
            if g.kh > MAX_DIRECT_TAPS:
                raise ValueError(f"inference chain: a DIRECT convolution of at most {MAX_DIRECT_TAPS} kernel rows, "
                                 f"got {g.kh}")
            size = direct_buffer_size(&g)  # its laid-out input rows
        if algorithm != ALGO_POINTWISE:
            self.workspace = np.empty(max(self.workspace.size, size), self.workspace.dtype)
        cdef Step* s = self._add(CONV, out_shape)
        s.conv, s.algorithm, s.chunk_rows, s.relu = g, algorithm, chunk_rows, relu
        s.w, s.b_gemm, s.b_after = self._slot(w), self._slot(b_gemm), self._slot(b_after)

    def add_max_pool2d(self, tuple out_shape, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t top, Py_ssize_t left):
        """Max pooling of the current output into ``out_shape``."""
        cdef Geometry g
        g.N, g.H, g.W, g.C = self.out_shape
        g.OH, g.OW = out_shape[1], out_shape[2]
        g.ph, g.pw, g.sh, g.sw, g.top, g.left, g.right = ph, pw, sh, sw, top, left, 0
        self._add(MAX_POOL, out_shape).pool = g

    def add_dense(self, cnp.ndarray w not None, cnp.ndarray b, bint relu):
        """The current output, taken as (rows, K), times ``w`` (K, N), then the bias and ReLU epilogue."""
        cdef Py_ssize_t k = w.shape[0], n = w.shape[1], m = int(np.prod(self.out_shape)) // k
        cdef Step* s = self._add(DENSE, (m, n))
        s.m, s.n, s.k, s.relu = m, n, k, relu
        s.w, s.b_after = self._slot(w), self._slot(b)

    def reshape(self, tuple shape):
        """Take the current output as ``shape`` (same size): no step, the buffer is read as is."""
        self.out_shape = shape

    def finish(self):
        """Make the chain callable: fix the buffers' and weights' addresses (once: no steps after)."""
        if self.count == 0 or self.buffer_data != NULL:
            raise ValueError("inference chain: finish() once, after at least one step")
        free(self.weight_data)  # (a finish() that ran out of memory before)
        self.weight_data = <void**>malloc((len(self.weights) + 1) * sizeof(void*))
        self.buffer_data = <void**>malloc((self.count + 1) * sizeof(void*))
        if self.weight_data == NULL or self.buffer_data == NULL:
            raise MemoryError("inference chain: out of memory for its tables")
        for i, a in enumerate(self.weights):
            self.weight_data[i] = cnp.PyArray_DATA(<cnp.ndarray>a)
        for i, a in enumerate(self.buffers):
            self.buffer_data[i + 1] = cnp.PyArray_DATA(<cnp.ndarray>a)
        if len(self.in_shape) > 8 or len(self.out_shape) > 8:
            raise ValueError("inference chain: shapes of at most 8 axes")
        self.in_ndim, self.out_ndim = len(self.in_shape), len(self.out_shape)
        for i in range(self.in_ndim):
            self.in_dims[i] = self.in_shape[i]
        for i in range(self.out_ndim):
            self.out_dims[i] = self.out_shape[i]
        return self

    @property
    def output_shape(self):
        return self.out_shape

    def __call__(self, x, weights):
        cdef cnp.ndarray a, out
        cdef int i
        if self.buffer_data == NULL or type(x) is not np.ndarray:
            return None
        a = <cnp.ndarray>x
        if (cnp.PyArray_TYPE(a) != self.typenum or not cnp.PyArray_IS_C_CONTIGUOUS(a)
                or cnp.PyArray_NDIM(a) != self.in_ndim):
            return None
        for i in range(self.in_ndim):
            if cnp.PyArray_DIMS(a)[i] != self.in_dims[i]:
                return None
        if len(weights) != len(self.weights):
            return None
        for i in range(len(self.weights)):
            if weights[i] is not self.weights[i]:
                return None
        out = cnp.PyArray_EMPTY(self.out_ndim, self.out_dims, self.typenum, 0)
        self.buffer_data[0] = cnp.PyArray_DATA(a)
        self.buffer_data[self.count] = cnp.PyArray_DATA(out)
        if self.typenum == cnp.NPY_FLOAT:
            _run[float](self.steps, self.count, <float**>self.buffer_data, <float**>self.weight_data,
                        <float*>cnp.PyArray_DATA(self.workspace))
        else:
            _run[double](self.steps, self.count, <double**>self.buffer_data, <double**>self.weight_data,
                         <double*>cnp.PyArray_DATA(self.workspace))
        return out


def _use_blas(size_t sgemm_address, size_t dgemm_address):
    """This module's GEMMs call the Fortran sgemm_/dgemm_ at these addresses (0, 0: scipy's); see
    nnkit.backend.cython.blas, the one caller: the chains must call the BLAS the kernels call, for the same bits."""
    use_blas(sgemm_address, dgemm_address)


MAX_DIRECT_KERNEL_ROWS = MAX_DIRECT_TAPS
