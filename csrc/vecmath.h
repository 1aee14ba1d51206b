/* exp, and sigmoid and tanh over a run of values: the one home of nnkit's exp.
 *
 * Without -ffast-math gcc neither vectorises libm's exp nor reorders a sum, so
 * nnkit carries its own exp (Cephes' range reduction and polynomial, within 2 ulp)
 * written so that gcc vectorises the loops that call it.  The wheel is built for
 * any x86-64 (SSE2): the sigmoid and tanh runs, a third of a recurrent layer's
 * step, are also compiled for AVX2+FMA and AVX-512 (gcc's target_clones), and
 * the dynamic loader picks the widest the CPU has, once, at load.
 */
#ifndef NNKIT_VECMATH_H
#define NNKIT_VECMATH_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define NNKIT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), unused))
#else
#define NNKIT_CLONES __attribute__((unused))
#endif

/* exp(x) for -87 <= x <= 88; NaN in, NaN out.  x = n ln2 + r, |r| <= ln2/2 (n rounded
 * by the 1.5 * 2**23 trick, ln2 split in two for an exact product), exp(r) by Cephes'
 * polynomial, 2**n built in the exponent bits. */
static inline float nnkit_expf(float x) {
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float rr = r * r;
    float p = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r
                + 1.6666665459e-1f) * r + 5.0000001201e-1f) * rr + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* exp(x) for -708 <= x <= 709; NaN in, NaN out.  As above, exp(r) by Cephes' Pade form. */
static inline double nnkit_exp(double x) {
    double n = (x * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
    double r = x - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6;
    double rr = r * r;
    double p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1);
    double q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr
               + 2.00000000000000000009e0;
    int64_t bits = (int64_t)((int32_t)n + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return (1.0 + 2.0 * (p / (q - p))) * scale;
}

/* v[:n] = 1 / (1 + exp(-v)), the exponent clamped into exp's domain (NaN passes through). */
#define NNKIT_SIGMOID(NAME, T, EXP, LIMIT)                                                                   \
    NNKIT_CLONES static void NAME(T *v, ptrdiff_t n) {                                                       \
        for (ptrdiff_t k = 0; k < n; k++) {                                                                  \
            T a = -v[k];                                                                                     \
            a = a < -(LIMIT) ? -(LIMIT) : a;                                                                 \
            a = a > (LIMIT) ? (LIMIT) : a;                                                                   \
            v[k] = (T)1 / ((T)1 + EXP(a));                                                                   \
        }                                                                                                    \
    }

NNKIT_SIGMOID(nnkit_sigmoid_f32, float, nnkit_expf, 87.0f)
NNKIT_SIGMOID(nnkit_sigmoid_f64, double, nnkit_exp, 708.0)

/* tanh(x) for |x| < 0.625 (z = x * x): Cephes' odd polynomial (float) and rational form (double). */
static inline float nnkit_tanh_small_f32(float x, float z) {
    return ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z
            - 3.33332819422e-1f) * z * x + x;
}

static inline double nnkit_tanh_small_f64(double x, double z) {
    double p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3;
    double q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3;
    return x + x * z * (p / q);
}

/* v[:n] = tanh(v): near 0 (|v| < 0.625) the small form above; elsewhere sign(v) (1 - e) / (1 + e),
 * e = exp(-2|v|) <= 1, which never overflows (and which near 0 would lose all relative precision: 1 - e
 * cancels).  Both computed, one kept: the loop vectorises. */
#define NNKIT_TANH(NAME, T, EXP, LIMIT, SMALL)                                                               \
    NNKIT_CLONES static void NAME(T *v, ptrdiff_t n) {                                                       \
        for (ptrdiff_t k = 0; k < n; k++) {                                                                  \
            T x = v[k], z = x * x;                                                                           \
            T a = x < (T)0 ? x : -x;                                                                         \
            a = a + a;                                                                                       \
            a = a < -(LIMIT) ? -(LIMIT) : a;                                                                 \
            T e = EXP(a);                                                                                    \
            T t = ((T)1 - e) / ((T)1 + e);                                                                   \
            t = x < (T)0 ? -t : t;                                                                           \
            v[k] = z < (T)0.390625 ? SMALL(x, z) : t;                                                        \
        }                                                                                                    \
    }

NNKIT_TANH(nnkit_tanh_f32, float, nnkit_expf, 87.0f, nnkit_tanh_small_f32)
NNKIT_TANH(nnkit_tanh_f64, double, nnkit_exp, 708.0, nnkit_tanh_small_f64)
#endif
