"""Recurrent time loops (SimpleRNN, LSTM, GRU), forward and backward through time, float32/float64.

The equations, masking and dropout rules are ``nnkit/backend/reference/rnn.py``'s.  The Python wrapper
(``nnkit.backend.cython.rnn``) has checked every shape and dtype, computed the input projection of all
steps with one GEMM, copied the initial states into ``y``, and allocated every output.

Layout (B batch, T steps, U units, G gates, GU = G U, t the step's position in x, s its position in
processing order: t = s, or T - 1 - s with go_backwards):

    gates  (B, T, GU)  IN: x_t W (no bias); OUT: the gates' activations (what the backward needs)
    y      (B, T + S, U)  outputs in processing order, then the states; y[:, T] (and y[:, T + 1], c) is the
                       live state during the loop: IN the initial state, OUT the final one
    hprev  (B, T, U)   OUT (training): the state h before step t; cprev the same for c
    aux    (B, T, U)   OUT (training): LSTM act(c_t); GRU reset_after (h ⊙ m_h) R_h + b_rh;
                       GRU not reset_after r ⊙ h ⊙ m_h (what meets R_h)

Every OpenMP worker owns a block of batch rows and runs the whole time loop on them (rows never
interact), so no step needs a barrier.  Per step and block: one GEMM for the recurrent projection
(one per gate with per-gate dropout masks), then one pass over each row for the gates.
"""
from cython cimport floating
from cython.parallel cimport prange, parallel
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from blas cimport gemm, use_blas
from denormal cimport nnkit_flush_denormals
from team cimport share_start, share_stop

cdef extern from *:
    """
    /* Lets gcc if-convert (and so vectorise) the clamps in the activation loops: no code here reads the
       floating-point exception flags, so assuming no op traps changes no result. */
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC optimize("no-trapping-math")
    #endif
    """

cdef enum:  # the cells
    SIMPLE = 0
    LSTM = 1
    GRU = 2
    GRU_BEFORE = 3  # GRU with reset_after=False: the reset gate meets h before R_h

cdef enum:  # the activations, in reference.rnn.ACTIVATIONS order
    LINEAR = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3
    HARD_SIGMOID = 4


# ----------------------------------------------------------------------------- activations over a row

cdef extern from "vecmath.h" nogil:
    void nnkit_sigmoid_f32(float* v, Py_ssize_t n)
    void nnkit_sigmoid_f64(double* v, Py_ssize_t n)
    void nnkit_tanh_f32(float* v, Py_ssize_t n)
    void nnkit_tanh_f64(double* v, Py_ssize_t n)


cdef void _activate(int code, floating* v, Py_ssize_t n) noexcept nogil:
    """v[:n] = act(v[:n]) in place; one branch-free loop per activation so that each vectorises (sigmoid and
    tanh, the costly ones, for the widest vectors the CPU has: vecmath.h)."""
    cdef Py_ssize_t k
    cdef floating a
    cdef floating one = 1, zero = 0
    if code == RELU:
        for k in range(n):
            v[k] = v[k] if v[k] > zero else zero
    elif code == SIGMOID:
        if floating is float:
            nnkit_sigmoid_f32(v, n)
        else:
            nnkit_sigmoid_f64(v, n)
    elif code == TANH:
        if floating is float:
            nnkit_tanh_f32(v, n)
        else:
            nnkit_tanh_f64(v, n)
    elif code == HARD_SIGMOID:
        for k in range(n):
            a = v[k] * <floating>(1.0 / 6.0) + <floating>0.5
            a = zero if a < zero else a
            v[k] = one if a > one else a


cdef void _times_grad(int code, const floating* y, floating* d, Py_ssize_t n) noexcept nogil:
    """d[:n] *= act'(z), written with the activation's output y = act(z)."""
    cdef Py_ssize_t k
    cdef floating one = 1, zero = 0, sixth = <floating>(1.0 / 6.0)
    if code == RELU:
        for k in range(n):
            d[k] = d[k] if y[k] > zero else zero
    elif code == SIGMOID:
        for k in range(n):
            d[k] = d[k] * y[k] * (one - y[k])
    elif code == TANH:
        for k in range(n):
            d[k] = d[k] * (one - y[k] * y[k])
    elif code == HARD_SIGMOID:
        for k in range(n):
            d[k] = d[k] * sixth if zero < y[k] < one else zero


# ----------------------------------------------------------------------------- the recurrent projection

cdef void _project(const floating* h, Py_ssize_t ldh, Py_ssize_t n, Py_ssize_t u, const floating* rk,
                   Py_ssize_t ldr, Py_ssize_t cols, const floating* m, Py_ssize_t ldm, Py_ssize_t groups,
                   floating* hd, floating* out, Py_ssize_t ldo) noexcept nogil:
    """out[:n, :cols] = h R[:, :cols], or with dropout masks gate group g's columns (h ⊙ m_g) R_g.

    h rows (n, u) with row stride ldh; m (rows, groups u) with row stride ldm; hd is (n, u) scratch.
    """
    cdef Py_ssize_t i, j, g, width = cols // groups if groups else cols
    if not groups:
        gemm(False, False, n, cols, u, 1, h, ldh, rk, ldr, 0, out, ldo)
        return
    for g in range(groups):
        for i in range(n):
            for j in range(u):
                hd[i * u + j] = h[i * ldh + j] * m[i * ldm + g * u + j]
        gemm(False, False, n, width, u, 1, hd, u, rk + g * width, ldr, 0, out + g * width, ldo)


cdef void _project_back(const floating* d, Py_ssize_t ldd, Py_ssize_t n, Py_ssize_t u, const floating* rkt,
                        Py_ssize_t cols, const floating* m, Py_ssize_t ldm, Py_ssize_t groups, floating* tmp,
                        floating* dh) noexcept nogil:
    """dh[:n, :u] += the gradient of ``_project``'s input h for its output gradient d (n, cols); rkt is R^T
    (GU, u), C-contiguous (BLAS packs it untransposed, the cheaper copy)."""
    cdef Py_ssize_t i, j, g, width = cols // groups if groups else cols
    if not groups:
        gemm(False, False, n, u, cols, 1, d, ldd, rkt, u, 1, dh, u)
        return
    for g in range(groups):
        gemm(False, False, n, u, width, 1, d + g * width, ldd, rkt + g * width * u, u, 0, tmp, u)
        for i in range(n):
            for j in range(u):
                dh[i * u + j] += tmp[i * u + j] * m[i * ldm + g * u + j]


# ----------------------------------------------------------------------------- one step's gates, one row

cdef void _lstm_row(floating* z, const floating* rec, const floating* bias, floating* h, floating* c,
                    floating* ac, Py_ssize_t u, int act, int ract) noexcept nogil:
    """z: x W on entry, the activations i, f, g, o on exit; h, c: the state, updated; ac: act(c) out."""
    cdef Py_ssize_t j
    for j in range(4 * u):
        z[j] = z[j] + rec[j] + bias[j]
    _activate(ract, z, 2 * u)
    _activate(act, z + 2 * u, u)
    _activate(ract, z + 3 * u, u)
    for j in range(u):
        c[j] = z[u + j] * c[j] + z[j] * z[2 * u + j]
        ac[j] = c[j]
    _activate(act, ac, u)
    for j in range(u):
        h[j] = z[3 * u + j] * ac[j]


cdef void _gru_row(floating* z, const floating* rec, const floating* bias_in, const floating* bias_rec,
                   floating* h, floating* rh, Py_ssize_t u, int act, int ract) noexcept nogil:
    """reset_after: z: x W on entry, z, r, hh on exit; rh: (h ⊙ m_h) R_h + b_rh out; h updated."""
    cdef Py_ssize_t j
    for j in range(2 * u):
        z[j] = z[j] + bias_in[j] + rec[j] + bias_rec[j]
    _activate(ract, z, 2 * u)
    for j in range(u):
        rh[j] = rec[2 * u + j] + bias_rec[2 * u + j]
        z[2 * u + j] = z[2 * u + j] + bias_in[2 * u + j] + z[u + j] * rh[j]
    _activate(act, z + 2 * u, u)
    for j in range(u):
        h[j] = z[j] * h[j] + (1 - z[j]) * z[2 * u + j]


cdef void _gru_before_gates(floating* z, const floating* rec, const floating* bias, const floating* h,
                            const floating* m, floating* q, Py_ssize_t u, int ract) noexcept nogil:
    """reset_after=False, first half: z, r into z[:2u]; q = r ⊙ h ⊙ m_h (m NULL: no dropout)."""
    cdef Py_ssize_t j
    for j in range(2 * u):
        z[j] = z[j] + rec[j] + bias[j]
    _activate(ract, z, 2 * u)
    if m == NULL:
        for j in range(u):
            q[j] = z[u + j] * h[j]
    else:
        for j in range(u):
            q[j] = z[u + j] * h[j] * m[j]


cdef void _gru_before_state(floating* z, const floating* rec_h, const floating* bias, floating* h,
                            Py_ssize_t u, int act) noexcept nogil:
    """reset_after=False, second half: hh = act(x W_h + q R_h + b_h) into z[2u:], h updated."""
    cdef Py_ssize_t j
    for j in range(u):
        z[2 * u + j] = z[2 * u + j] + rec_h[j] + bias[2 * u + j]
    _activate(act, z + 2 * u, u)
    for j in range(u):
        h[j] = z[j] * h[j] + (1 - z[j]) * z[2 * u + j]


cdef void _simple_row(floating* z, const floating* rec, const floating* bias, floating* h, Py_ssize_t u,
                      int act) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(u):
        z[j] = z[j] + rec[j] + bias[j]
    _activate(act, z, u)
    memcpy(h, z, u * sizeof(floating))


# ----------------------------------------------------------------------------- one step's gate gradients, one row
# d: the row's gate pre-activation gradients (OUT); z: the gates' activations; dh: IN the gradient of the
# step's new h, OUT the part of the previous h's gradient that does not pass through R (added by a GEMM).

cdef void _lstm_row_back(floating* d, const floating* z, floating* dh, floating* dc, const floating* c_prev,
                         const floating* ac, Py_ssize_t u, int act, int ract) noexcept nogil:
    """dc: IN the new c's gradient, OUT the previous c's; ac = act(c) of the step."""
    cdef Py_ssize_t j
    for j in range(u):
        d[3 * u + j] = dh[j] * ac[j]  # o's gradient, times ract'(o) below
        d[2 * u + j] = dh[j] * z[3 * u + j]  # h's gradient through act(c), times act'(c) next
    _times_grad(act, ac, d + 2 * u, u)
    for j in range(u):  # the new c's whole gradient, into d[2u:] for now (short loops vectorise; long ones did not)
        d[2 * u + j] = d[2 * u + j] + dc[j]
    for j in range(u):
        d[j] = d[2 * u + j] * z[2 * u + j]
    for j in range(u):
        d[u + j] = d[2 * u + j] * c_prev[j]
    for j in range(u):
        dc[j] = d[2 * u + j] * z[u + j]
    for j in range(u):
        d[2 * u + j] = d[2 * u + j] * z[j]
    memset(dh, 0, u * sizeof(floating))
    _times_grad(ract, z, d, 2 * u)
    _times_grad(act, z + 2 * u, d + 2 * u, u)
    _times_grad(ract, z + 3 * u, d + 3 * u, u)


cdef void _gru_row_back(floating* d, floating* dr, const floating* z, floating* dh, const floating* h_prev,
                        const floating* rh, Py_ssize_t u, int act, int ract) noexcept nogil:
    """z, hh's gradients (and for reset_after, dr NOT NULL: r's, and the recurrent side's dr = [dz, dr, r dhh]
    with rh the step's (h ⊙ m_h) R_h + b_rh); without reset_after r's gradient needs a GEMM first."""
    cdef Py_ssize_t j
    for j in range(u):
        d[j] = dh[j] * (h_prev[j] - z[2 * u + j])
    for j in range(u):
        d[2 * u + j] = dh[j] * (1 - z[j])
    for j in range(u):
        dh[j] = dh[j] * z[j]
    _times_grad(ract, z, d, u)
    _times_grad(act, z + 2 * u, d + 2 * u, u)
    if dr == NULL:
        return
    for j in range(u):
        d[u + j] = d[2 * u + j] * rh[j]
    for j in range(u):
        dr[2 * u + j] = d[2 * u + j] * z[u + j]
    _times_grad(ract, z + u, d + u, u)
    memcpy(dr, d, 2 * u * sizeof(floating))


cdef void _simple_row_back(floating* d, const floating* z, floating* dh, Py_ssize_t u, int act) noexcept nogil:
    memcpy(d, dh, u * sizeof(floating))
    memset(dh, 0, u * sizeof(floating))
    _times_grad(act, z, d, u)


# ----------------------------------------------------------------------------- forward through time

cdef void _forward_rows(int cell, floating* gates, const floating* rk, const floating* bias_in,
                        const floating* bias_rec, const floating* rdm, Py_ssize_t groups,
                        const unsigned char* mask, floating* y, floating* hprev, floating* cprev, floating* aux,
                        Py_ssize_t T, Py_ssize_t U, Py_ssize_t S, bint backwards, int act, int ract,
                        bint zero_output, Py_ssize_t b0, Py_ssize_t b1) noexcept nogil:
    cdef Py_ssize_t G = 1 if cell == SIMPLE else (4 if cell == LSTM else 3)
    cdef Py_ssize_t GU = G * U, ldy = (T + S) * U, ldm = groups * U
    cdef Py_ssize_t n = b1 - b0, s, t, b, i
    cdef Py_ssize_t cols = 2 * U if cell == GRU_BEFORE else GU  # what the first GEMM of a step projects
    cdef Py_ssize_t proj_groups = (2 if groups == 3 else groups) if cell == GRU_BEFORE else groups
    cdef floating* rec
    cdef floating* hd
    cdef floating* q
    cdef floating* h
    cdef floating* z
    cdef floating* local_aux
    cdef const floating* m_h
    if n <= 0:
        return
    nnkit_flush_denormals()
    rec = <floating*>malloc((n * GU + 3 * n * U) * sizeof(floating))
    hd, q, local_aux = rec + n * GU, rec + n * GU + n * U, rec + n * GU + 2 * n * U
    for s in range(T):
        t = T - 1 - s if backwards else s
        h = y + b0 * ldy + T * U  # the live state rows
        if hprev != NULL:
            for i in range(n):
                memcpy(hprev + ((b0 + i) * T + t) * U, h + i * ldy, U * sizeof(floating))
                if cell == LSTM:
                    memcpy(cprev + ((b0 + i) * T + t) * U, h + i * ldy + U, U * sizeof(floating))
        _project(h, ldy, n, U, rk, GU, cols, rdm + b0 * ldm if groups else NULL, ldm, proj_groups, hd, rec, GU)
        if cell == GRU_BEFORE:
            for i in range(n):
                b = b0 + i
                if mask == NULL or mask[b * T + t]:
                    m_h = NULL if not groups else rdm + b * ldm + (2 * U if groups == 3 else 0)
                    _gru_before_gates(gates + (b * T + t) * GU, rec + i * GU, bias_in, h + i * ldy, m_h,
                                      q + i * U, U, ract)
                else:
                    memset(q + i * U, 0, U * sizeof(floating))
            gemm(False, False, n, U, U, 1, q, U, rk + 2 * U, GU, 0, rec + 2 * U, GU)
        for i in range(n):
            b = b0 + i
            z = gates + (b * T + t) * GU
            if cell == GRU_BEFORE and aux != NULL:  # every step's r*h, zeros where masked: dR sums them all
                memcpy(aux + (b * T + t) * U, q + i * U, U * sizeof(floating))
            if mask != NULL and not mask[b * T + t]:  # the state carries over; the output is it or zeros
                if zero_output:
                    memset(y + b * ldy + s * U, 0, U * sizeof(floating))
                else:
                    memcpy(y + b * ldy + s * U, h + i * ldy, U * sizeof(floating))
                continue
            if cell == LSTM:
                _lstm_row(z, rec + i * GU, bias_in, h + i * ldy, h + i * ldy + U,
                          aux + (b * T + t) * U if aux != NULL else local_aux, U, act, ract)
            elif cell == GRU:
                _gru_row(z, rec + i * GU, bias_in, bias_rec, h + i * ldy,
                         aux + (b * T + t) * U if aux != NULL else local_aux, U, act, ract)
            elif cell == GRU_BEFORE:
                _gru_before_state(z, rec + i * GU + 2 * U, bias_in, h + i * ldy, U, act)
            else:
                _simple_row(z, rec + i * GU, bias_in, h + i * ldy, U, act)
            memcpy(y + b * ldy + s * U, h + i * ldy, U * sizeof(floating))
    free(rec)


def rnn_forward(int cell, floating[:, :, ::1] gates, const floating[:, ::1] rk, const floating[::1] bias_in,
                const floating[::1] bias_rec, const floating[:, ::1] rdm, Py_ssize_t groups,
                const unsigned char[:, ::1] mask, floating[:, :, ::1] y, floating[:, :, ::1] hprev,
                floating[:, :, ::1] cprev, floating[:, :, ::1] aux, bint backwards, int act, int ract,
                bint zero_output, int nthreads):
    """Run the cell over every step (see the module docstring for the arrays).

    Parameters
    ----------
    cell : 0 SimpleRNN, 1 LSTM, 2 GRU (reset_after), 3 GRU (reset_after=False)
    gates : (B, T, GU), IN/OUT
    rk : (U, GU), IN
    bias_in : (GU,), IN, added to x W (zeros without a bias); bias_rec : (GU,), IN, GRU reset_after's
        recurrent bias (zeros otherwise)
    rdm : (B, groups U), IN, recurrent dropout masks; groups 0 (none, rdm unused), 1 (one mask) or G
    mask : (B, T) bool as uint8, IN; (0, 0): no mask
    y : (B, T + S, U), IN/OUT
    hprev, cprev, aux : (B, T, U), OUT; (0, 0, 0): not saved (inference; cprev and aux also when unused)
    """
    cdef Py_ssize_t B = gates.shape[0], T = gates.shape[1], U = rk.shape[0], S = y.shape[1] - T
    cdef Py_ssize_t tid
    cdef floating* hp
    cdef floating* cp
    cdef floating* ax
    cdef const unsigned char* mk
    cdef const floating* dm
    if B == 0 or T == 0:
        return
    hp = &hprev[0, 0, 0] if hprev.shape[0] else NULL  # the optional arrays: NULL when not given
    cp = &cprev[0, 0, 0] if cprev.shape[0] else NULL
    ax = &aux[0, 0, 0] if aux.shape[0] else NULL
    mk = &mask[0, 0] if mask.shape[0] else NULL
    dm = &rdm[0, 0] if groups else NULL
    nthreads = <int>min(<Py_ssize_t>nthreads, B)
    for tid in prange(nthreads, nogil=True, num_threads=nthreads, schedule="static", chunksize=1):
        _forward_rows(cell, &gates[0, 0, 0], &rk[0, 0], &bias_in[0], &bias_rec[0], dm, groups, mk, &y[0, 0, 0],
                      hp, cp, ax, T, U, S, backwards, act, ract, zero_output,
                      B * tid // nthreads, B * (tid + 1) // nthreads)


# ----------------------------------------------------------------------------- backward through time

cdef void _backward_rows(int cell, const floating* gates, const floating* rkt, const floating* rdm,
                         Py_ssize_t groups, const unsigned char* mask, const floating* dy, const floating* hprev,
                         const floating* cprev, const floating* aux, floating* dg, floating* drec,
                         floating* dh, floating* dc, Py_ssize_t T, Py_ssize_t U, Py_ssize_t S, bint backwards,
                         int act, int ract, bint zero_output, Py_ssize_t b0, Py_ssize_t b1) noexcept nogil:
    """dg (B, T, GU): the gradient of the gates' pre-activations on the input side (x W + b); drec: on the
    recurrent side where it differs (GRU reset_after: the h gate's r ⊙ dah), else NULL (= dg).  dh, dc (B, U):
    IN the final states' gradients, OUT the initial states'."""
    cdef Py_ssize_t G = 1 if cell == SIMPLE else (4 if cell == LSTM else 3)
    cdef Py_ssize_t GU = G * U, ldy = (T + S) * U, ldm = groups * U
    cdef Py_ssize_t n = b1 - b0, s, t, b, i, j
    cdef Py_ssize_t cols = 2 * U if cell == GRU_BEFORE else GU
    cdef Py_ssize_t proj_groups = (2 if groups == 3 else groups) if cell == GRU_BEFORE else groups
    cdef floating* tmp
    cdef floating* dq
    cdef floating* d
    cdef floating* dhr
    cdef const floating* z
    cdef const floating* hp
    cdef const floating* dout
    cdef const floating* m_h
    cdef floating mh
    if n <= 0:
        return
    nnkit_flush_denormals()
    tmp = <floating*>malloc(2 * n * U * sizeof(floating))
    dq = tmp + n * U
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if backwards else s
        for i in range(n):
            b = b0 + i
            d = dg + (b * T + t) * GU
            dhr = dh + b * U
            dout = dy + b * ldy + s * U
            if mask != NULL and not mask[b * T + t]:  # no gate ran: the state's gradient carries over
                memset(d, 0, GU * sizeof(floating))
                if drec != NULL:
                    memset(drec + (b * T + t) * GU, 0, GU * sizeof(floating))
                if not zero_output:
                    for j in range(U):
                        dhr[j] += dout[j]
                continue
            z = gates + (b * T + t) * GU
            hp = hprev + (b * T + t) * U
            for j in range(U):
                dhr[j] += dout[j]
            if cell == LSTM:
                _lstm_row_back(d, z, dhr, dc + b * U, cprev + (b * T + t) * U, aux + (b * T + t) * U, U, act, ract)
            elif cell == GRU:
                _gru_row_back(d, drec + (b * T + t) * GU, z, dhr, hp, aux + (b * T + t) * U, U, act, ract)
            elif cell == GRU_BEFORE:
                _gru_row_back(d, NULL, z, dhr, hp, NULL, U, act, ract)
            else:
                _simple_row_back(d, z, dhr, U, act)
        if cell == GRU_BEFORE:  # the reset gate's gradient needs dq = dah R_h^T first
            gemm(False, False, n, U, U, 1, dg + (b0 * T + t) * GU + 2 * U, T * GU, rkt + 2 * U * U, U, 0, dq, U)
            for i in range(n):
                b = b0 + i
                if mask != NULL and not mask[b * T + t]:
                    continue
                d = dg + (b * T + t) * GU
                z = gates + (b * T + t) * GU
                hp = hprev + (b * T + t) * U
                m_h = NULL if not groups else rdm + b * ldm + (2 * U if groups == 3 else 0)
                dhr = dh + b * U
                for j in range(U):
                    mh = 1 if m_h == NULL else m_h[j]
                    d[U + j] = dq[i * U + j] * hp[j] * mh
                    dhr[j] += dq[i * U + j] * z[U + j] * mh
                _times_grad(ract, z + U, d + U, U)
        _project_back((drec if drec != NULL else dg) + (b0 * T + t) * GU, T * GU, n, U, rkt, cols,
                      rdm + b0 * ldm if groups else NULL, ldm, proj_groups, tmp, dh + b0 * U)
    free(tmp)


def rnn_backward(int cell, const floating[:, :, ::1] gates, const floating[:, ::1] rkt,
                 const floating[:, ::1] rdm, Py_ssize_t groups, const unsigned char[:, ::1] mask,
                 const floating[:, :, ::1] dy, const floating[:, :, ::1] hprev, const floating[:, :, ::1] cprev,
                 const floating[:, :, ::1] aux, floating[:, :, ::1] dg, floating[:, :, ::1] drec,
                 floating[:, ::1] dh, floating[:, ::1] dc, bint backwards, int act, int ract, bint zero_output,
                 int nthreads):
    """Back through every step: the gates' gradients and the initial states'.

    Parameters
    ----------
    cell, gates, rdm, groups, mask, hprev, cprev, aux, backwards, act, ract, zero_output :
        as ``rnn_forward`` (its outputs)
    rkt : (GU, U), IN: the recurrent kernel transposed
    dy : (B, T + S, U), IN: the gradient of the forward's y
    dg : (B, T, GU), OUT: the gradient of each step's gate pre-activations (of x W + b)
    drec : (B, T, GU), OUT for GRU reset_after (the gradient of the recurrent projection), else (0, 0, 0)
    dh, dc : (B, U), IN: the final states' gradients; OUT: the initial states' (dc (0, 0) but for LSTM)
    """
    cdef Py_ssize_t B = gates.shape[0], T = gates.shape[1], U = rkt.shape[1], S = dy.shape[1] - T
    cdef Py_ssize_t tid
    cdef const unsigned char* mk
    cdef const floating* dm
    cdef const floating* cp
    cdef const floating* ax
    cdef floating* dr
    cdef floating* dcp
    if B == 0 or T == 0:
        return
    mk = &mask[0, 0] if mask.shape[0] else NULL
    dm = &rdm[0, 0] if groups else NULL
    cp = &cprev[0, 0, 0] if cprev.shape[0] else NULL
    ax = &aux[0, 0, 0] if aux.shape[0] else NULL
    dr = &drec[0, 0, 0] if drec.shape[0] else NULL
    dcp = &dc[0, 0] if dc.shape[0] else NULL
    nthreads = <int>min(<Py_ssize_t>nthreads, B)
    for tid in prange(nthreads, nogil=True, num_threads=nthreads, schedule="static", chunksize=1):
        _backward_rows(cell, &gates[0, 0, 0], &rkt[0, 0], dm, groups, mk, &dy[0, 0, 0], &hprev[0, 0, 0], cp, ax,
                       &dg[0, 0, 0], dr, &dh[0, 0], dcp, T, U, S, backwards, act, ract, zero_output,
                       B * tid // nthreads, B * (tid + 1) // nthreads)


# ----------------------------------------------------------------------------- whole-sequence GEMMs

def matmul_strided(const floating[:, :] a, const floating[:, :] b, floating[:, :] c, bint trans_a, bint trans_b,
                   bint accumulate, int nthreads):
    """c = op(a) op(b) (+ c when ``accumulate``) on views whose rows may be strided (unit stride within a
    row: the caller checks), split over OpenMP threads along the longer side of c.

    Parameters
    ----------
    a, b : 2-D, IN; op(a) is (M, K), op(b) is (K, N)
    c : (M, N), OUT (read too when ``accumulate``)
    """
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1], k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t lda = a.strides[0] // sizeof(floating), ldb = b.strides[0] // sizeof(floating)
    cdef Py_ssize_t ldc = c.strides[0] // sizeof(floating)
    cdef floating beta = 1 if accumulate else 0
    cdef bint by_rows = m >= n
    cdef Py_ssize_t total = m if by_rows else n, start, stop
    cdef const floating* pa
    cdef const floating* pb
    cdef floating* pc
    if m == 0 or n == 0 or k == 0:
        if not accumulate and m and n:
            c[:, :] = 0
        return
    pa, pb, pc = &a[0, 0], &b[0, 0], &c[0, 0]
    lda, ldb, ldc = max(lda, 1), max(ldb, 1), max(ldc, 1)
    with nogil, parallel(num_threads=nthreads):
        nnkit_flush_denormals()
        start = share_start(total)
        stop = share_stop(total)
        if stop > start:
            if by_rows:
                gemm(trans_a, trans_b, stop - start, n, k, 1, pa + (start if trans_a else start * lda), lda,
                     pb, ldb, beta, pc + start * ldc, ldc)
            else:
                gemm(trans_a, trans_b, m, stop - start, k, 1, pa, lda, pb + (start * ldb if trans_b else start),
                     ldb, beta, pc + start, ldc)


def _use_blas(size_t sgemm_address, size_t dgemm_address):
    """This module's GEMMs call the Fortran sgemm_/dgemm_ at these addresses (0, 0: scipy's); see
    nnkit.backend.cython.blas, the one caller."""
    use_blas(sgemm_address, dgemm_address)


def _activation_run(int code, floating[::1] v):
    """Tests only: ``_activate`` in place over v (codes as reference.rnn.ACTIVATIONS)."""
    if v.shape[0]:
        _activate(code, &v[0], v.shape[0])
