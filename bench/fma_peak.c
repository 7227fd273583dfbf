/* The CPU's FMA peak: a register-only loop of independent fused multiply-adds (no memory
 * traffic), per thread, with 512-bit vectors (AVX-512F) and with 256-bit ones (AVX2 + FMA).
 * Peak GFLOP/s = FMAs x lanes x 2 / seconds. Used by bench/fma_peak.sh to state how far the
 * training kernels are from the machine's limit (docs/benchmarks.md).
 *   gcc -O2 -mavx512f -mfma -o fma_peak bench/fma_peak.c && ./fma_peak 512 2   (seconds)
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define STEP(a) a = FMA(a, m, c)
#define TWELVE STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5); \
               STEP(a6); STEP(a7); STEP(a8); STEP(a9); STEP(a10); STEP(a11)

/* run<BITS>(seconds): GFLOP/s of 12 independent FMA chains of VEC (LANES floats) for `seconds`.
 * The chains live in registers inside NAME##_chunk (no call in its loop, so nothing spills);
 * the clock is read between chunks. */
#define PEAK(NAME, VEC, LANES, SET1, ADD, STORE)                                               \
  static __attribute__((noinline)) void NAME##_chunk(VEC *acc, VEC m, VEC c) {                 \
    VEC a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5],          \
        a6 = acc[6], a7 = acc[7], a8 = acc[8], a9 = acc[9], a10 = acc[10], a11 = acc[11];      \
    for (int i = 0; i < 100000; i++) { TWELVE; }                                               \
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5;              \
    acc[6] = a6; acc[7] = a7; acc[8] = a8; acc[9] = a9; acc[10] = a10; acc[11] = a11;          \
  }                                                                                            \
  static double NAME(double seconds) {                                                         \
    VEC m = SET1(0.999999f), c = SET1(1e-7f), acc[12];                                         \
    /* Different starting values, so that no compiler merges the chains into one. */          \
    for (int k = 0; k < 12; k++) acc[k] = SET1(1.0f + 0.1f * k);                               \
    long iters = 0;                                                                            \
    double t0 = now(), t;                                                                      \
    do {                                                                                       \
      NAME##_chunk(acc, m, c);                                                                 \
      iters += 100000;                                                                         \
      t = now() - t0;                                                                          \
    } while (t < seconds);                                                                     \
    VEC s = acc[0];                                                                            \
    for (int k = 1; k < 12; k++) s = ADD(s, acc[k]);                                           \
    float out[LANES];                                                                          \
    STORE(out, s);                                                                             \
    if (out[0] == 42.0f) puts(""); /* keep the result alive */                                 \
    return iters * 12.0 * LANES * 2 / t / 1e9;                                                 \
  }

#define FMA _mm256_fmadd_ps
PEAK(run256, __m256, 8, _mm256_set1_ps, _mm256_add_ps, _mm256_storeu_ps)
#undef FMA
#ifndef NO512
#define FMA _mm512_fmadd_ps
PEAK(run512, __m512, 16, _mm512_set1_ps, _mm512_add_ps, _mm512_storeu_ps)
#undef FMA
#endif

int main(int argc, char **argv) {
  int bits = argc > 1 ? atoi(argv[1]) : 512;
  (void)bits;
  double seconds = argc > 2 ? atof(argv[2]) : 2.0;
#ifndef NO512
  if (bits == 512) {
    printf("%.1f\n", run512(seconds));
    return 0;
  }
#endif
  printf("%.1f\n", run256(seconds));
  return 0;
}
