/* DIRECT convolution forward, one output row: stride 1, no dilation, one group, few input channels.
 *
 * im2col + GEMM suits wide layers; for LeNet's 1 -> 6 and 6 -> 16 layers the GEMM is 6 or 16 columns wide
 * and the column buffer costs more to write and read than the products.  Two kernels sum in registers
 * instead, over every (tap row, tap, channel), with gcc's vector types (one AVX-512 register, two AVX2,
 * four SSE2 ones; compiled for each, vecmath.h's NNKIT_CLONES):
 *   - over filters, when F is a multiple of 8: a vector holds 8 or 16 filters of one output pixel,
 *     8 pixels side by side; the input is read in place (one value broadcast per product);
 *   - over pixels, for other (few) filters: a vector holds 16 output pixels of one filter, from input
 *     rows laid out channel-major ("transposed") by the caller, so that a tap's 16 pixels are neighbours.
 */
#ifndef NNKIT_CONV_DIRECT_H
#define NNKIT_CONV_DIRECT_H
#include <stddef.h>
#include "vecmath.h"

#define NNKIT_DIRECT_BLOCK 16 /* output pixels per register block */

typedef float nnkit_v16f __attribute__((vector_size(16 * sizeof(float))));
typedef double nnkit_v16d __attribute__((vector_size(16 * sizeof(double))));

/* NK filters (k0 ...) of one block of output pixels (q0 ...), summed in NK registers over every tap row,
 * channel and tap: each block of inputs loaded serves all NK filters, and the NK sums are independent
 * chains of multiply-adds.  gcc's vector types keep a block in one AVX-512 register (two AVX2, four SSE2
 * ones); written as a loop over pixels, gcc kept 16 scalar sums instead. */
#define NNKIT_DIRECT_FILTERS(NAME, T, V, NK)                                                                 \
    static inline __attribute__((always_inline)) void NAME(                                                 \
            const T *const *rows, ptrdiff_t pw, ptrdiff_t ch, const T *w, const T *bias, ptrdiff_t kh,      \
            ptrdiff_t kw, ptrdiff_t f, T *y_row, ptrdiff_t q0, ptrdiff_t width, ptrdiff_t k0) {             \
        V acc[NK];                                                                                           \
        for (int kk = 0; kk < NK; kk++) acc[kk] = (bias ? bias[k0 + kk] : (T)0) - (V){0};                  \
        for (ptrdiff_t i = 0; i < kh; i++) {                                                                 \
            if (!rows[i]) continue;                                                                          \
            for (ptrdiff_t c = 0; c < ch; c++) {                                                             \
                const T *xs = rows[i] + c * pw + q0;                                                         \
                const T *wk = w + (i * kw * ch + c) * f + k0;                                                \
                for (ptrdiff_t j = 0; j < kw; j++) {                                                         \
                    V xv;                                                                                    \
                    memcpy(&xv, xs + j, sizeof xv);                                                          \
                    for (int kk = 0; kk < NK; kk++) acc[kk] += wk[j * ch * f + kk] * xv;                     \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        T out[NK][NNKIT_DIRECT_BLOCK];                                                                       \
        memcpy(out, acc, sizeof out);                                                                        \
        for (ptrdiff_t t = 0; t < width; t++)                                                                \
            for (int kk = 0; kk < NK; kk++) y_row[(q0 + t) * f + k0 + kk] = out[kk][t];                      \
    }

/* y_row[ow * f + k] = bias[k] + sum over i < kh with rows[i] != NULL, c < ch, j < kw of
 *   rows[i][c * pw + ow + j] * w[((i * kw + j) * ch + c) * f + k]
 * for ow < ow_count.  rows[i]: the input row under tap row i, channel-major, padded with zeros on both
 * sides and to a whole number of blocks (pw >= round_up(ow_count, 16) + kw - 1); NULL: all padding. */
#define NNKIT_DIRECT_ROW(NAME, T, V)                                                                         \
    NNKIT_DIRECT_FILTERS(NAME##_8, T, V, 8)                                                                  \
    NNKIT_DIRECT_FILTERS(NAME##_4, T, V, 4)                                                                  \
    NNKIT_DIRECT_FILTERS(NAME##_2, T, V, 2)                                                                  \
    NNKIT_DIRECT_FILTERS(NAME##_1, T, V, 1)                                                                  \
    NNKIT_CLONES static void NAME(const T *const *rows, ptrdiff_t pw, ptrdiff_t ch, const T *w, const T *bias,\
                                  ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t f, T *y_row, ptrdiff_t ow_count) {   \
        for (ptrdiff_t q0 = 0; q0 < ow_count; q0 += NNKIT_DIRECT_BLOCK) {                                    \
            ptrdiff_t width = ow_count - q0 < NNKIT_DIRECT_BLOCK ? ow_count - q0 : NNKIT_DIRECT_BLOCK;      \
            ptrdiff_t k0 = 0;                                                                                \
            for (; k0 + 8 <= f; k0 += 8) NAME##_8(rows, pw, ch, w, bias, kh, kw, f, y_row, q0, width, k0);  \
            if (k0 + 4 <= f) { NAME##_4(rows, pw, ch, w, bias, kh, kw, f, y_row, q0, width, k0); k0 += 4; } \
            if (k0 + 2 <= f) { NAME##_2(rows, pw, ch, w, bias, kh, kw, f, y_row, q0, width, k0); k0 += 2; } \
            if (k0 < f) NAME##_1(rows, pw, ch, w, bias, kh, kw, f, y_row, q0, width, k0);                   \
        }                                                                                                    \
    }

NNKIT_DIRECT_ROW(nnkit_direct_row_f32, float, nnkit_v16f)
NNKIT_DIRECT_ROW(nnkit_direct_row_f64, double, nnkit_v16d)

#define NNKIT_DIRECT_PIXELS 8 /* output pixels side by side in the kernel over filters */

typedef float nnkit_v8f __attribute__((vector_size(8 * sizeof(float))));
typedef double nnkit_v8d __attribute__((vector_size(8 * sizeof(double))));

/* Output row oh of image x (H, W, C) into y_row (OW, F), F a multiple of L, L filters per vector V:
 *   y_row[ow * f + k] = bias[k] + sum over valid i, j, c of x[oh - pt + i, ow - pl + j, c] * w[i, j, c, k].
 * Pixels whose taps all lie inside the row go NNKIT_DIRECT_PIXELS at a time; the others (the edges,
 * the last few) one at a time, each tap checked. */
#define NNKIT_DIRECT_OVER_FILTERS(NAME, T, V, L)                                                             \
    static inline __attribute__((always_inline)) V NAME##_load(const T *p) {                                \
        V v;                                                                                                 \
        memcpy(&v, p, sizeof v);                                                                             \
        return v;                                                                                            \
    }                                                                                                        \
    NNKIT_CLONES static void NAME(const T *x, ptrdiff_t h, ptrdiff_t wd, ptrdiff_t ch, const T *w,           \
                                  const T *bias, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t f, ptrdiff_t oh,      \
                                  ptrdiff_t pt, ptrdiff_t pl, T *y_row, ptrdiff_t ow_count) {                \
        ptrdiff_t i0 = pt - oh > 0 ? pt - oh : 0, i1 = h + pt - oh < kh ? h + pt - oh : kh;               \
        ptrdiff_t lo = pl < ow_count ? pl : ow_count;                                                        \
        ptrdiff_t hi = wd + pl - kw + 1 < ow_count ? wd + pl - kw + 1 : ow_count;                           \
        if (hi < lo) hi = lo;                                                                                \
        for (ptrdiff_t k0 = 0; k0 < f; k0 += L) {                                                            \
            V b0 = bias ? NAME##_load(bias + k0) : (V){0};                                                   \
            ptrdiff_t ow = lo;                                                                               \
            for (; ow + NNKIT_DIRECT_PIXELS <= hi; ow += NNKIT_DIRECT_PIXELS) {                              \
                V acc[NNKIT_DIRECT_PIXELS];                                                                  \
                for (int p = 0; p < NNKIT_DIRECT_PIXELS; p++) acc[p] = b0;                                   \
                for (ptrdiff_t i = i0; i < i1; i++) {                                                        \
                    const T *xrow = x + ((oh - pt + i) * wd + ow - pl) * ch;                                 \
                    for (ptrdiff_t j = 0; j < kw; j++)                                                       \
                        for (ptrdiff_t c = 0; c < ch; c++) {                                                 \
                            V wv = NAME##_load(w + ((i * kw + j) * ch + c) * f + k0);                        \
                            const T *xp = xrow + j * ch + c;                                                 \
                            for (int p = 0; p < NNKIT_DIRECT_PIXELS; p++) acc[p] += xp[p * ch] * wv;         \
                        }                                                                                    \
                }                                                                                            \
                for (int p = 0; p < NNKIT_DIRECT_PIXELS; p++)                                                \
                    memcpy(y_row + (ow + p) * f + k0, &acc[p], sizeof(V));                                   \
            }                                                                                                \
            for (ptrdiff_t q = 0; q < ow_count; q++) {                                                       \
                if (q == lo) q = ow; /* the pixels above, done */                                            \
                if (q >= ow_count) break;                                                                    \
                V acc = b0;                                                                                  \
                for (ptrdiff_t i = i0; i < i1; i++)                                                          \
                    for (ptrdiff_t j = 0; j < kw; j++) {                                                     \
                        ptrdiff_t iw = q - pl + j;                                                           \
                        if (iw < 0 || iw >= wd) continue;                                                    \
                        const T *xp = x + ((oh - pt + i) * wd + iw) * ch;                                    \
                        for (ptrdiff_t c = 0; c < ch; c++)                                                   \
                            acc += xp[c] * NAME##_load(w + ((i * kw + j) * ch + c) * f + k0);                \
                    }                                                                                        \
                memcpy(y_row + q * f + k0, &acc, sizeof(V));                                                 \
            }                                                                                                \
        }                                                                                                    \
    }

NNKIT_DIRECT_OVER_FILTERS(nnkit_direct_filters16_f32, float, nnkit_v16f, 16)
NNKIT_DIRECT_OVER_FILTERS(nnkit_direct_filters8_f32, float, nnkit_v8f, 8)
NNKIT_DIRECT_OVER_FILTERS(nnkit_direct_filters16_f64, double, nnkit_v16d, 16)
NNKIT_DIRECT_OVER_FILTERS(nnkit_direct_filters8_f64, double, nnkit_v8d, 8)
#endif
