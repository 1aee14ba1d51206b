/* Flush denormals to zero (FTZ) and treat denormal inputs as zero (DAZ) on an
 * OpenMP worker thread.  Denormals make x86 float arithmetic ~100x slower and
 * never matter for training.  The team's master is the caller's own thread: it
 * keeps its floating-point mode, so NumPy code that runs after a kernel still
 * sees denormals (1e-310 * 1.0 stays 1e-310).  A no-op where SSE control
 * registers do not exist. */
#ifndef NNKIT_DENORMAL_H
#define NNKIT_DENORMAL_H
#include <omp.h>
#if defined(__SSE__) || defined(_M_X64) || defined(_M_IX86_FP)
#include <xmmintrin.h>
static inline void nnkit_flush_denormals(void) {
    if (omp_get_thread_num() != 0) _mm_setcsr(_mm_getcsr() | 0x8040);
}
#else
static inline void nnkit_flush_denormals(void) {}
#endif
#endif
