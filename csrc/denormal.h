/* Flush denormals to zero (FTZ) and treat denormal inputs as zero (DAZ) on the
 * calling thread.  Denormals make x86 float arithmetic ~100x slower and never
 * matter for training.  A no-op where SSE control registers do not exist. */
#ifndef NNKIT_DENORMAL_H
#define NNKIT_DENORMAL_H
#if defined(__SSE__) || defined(_M_X64) || defined(_M_IX86_FP)
#include <xmmintrin.h>
static inline void nnkit_flush_denormals(void) { _mm_setcsr(_mm_getcsr() | 0x8040); }
#else
static inline void nnkit_flush_denormals(void) {}
#endif
#endif
