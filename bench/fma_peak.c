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

#ifndef NO512
static double run512(double seconds) {
#define FMA _mm512_fmadd_ps
  __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  __m512 a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m,
         a10 = m, a11 = m;
  long iters = 0;
  double t0 = now(), t;
  do {
    for (int i = 0; i < 100000; i++) { TWELVE; }
    iters += 100000;
    t = now() - t0;
  } while (t < seconds);
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  float out[16];
  _mm512_storeu_ps(out, s);
  if (out[0] == 42.0f) puts("");  /* keep the result alive */
  return iters * 12.0 * 16 * 2 / t / 1e9;
#undef FMA
}
#endif

static double run256(double seconds) {
#define FMA _mm256_fmadd_ps
  __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  __m256 a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m,
         a10 = m, a11 = m;
  long iters = 0;
  double t0 = now(), t;
  do {
    for (int i = 0; i < 100000; i++) { TWELVE; }
    iters += 100000;
    t = now() - t0;
  } while (t < seconds);
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float out[8];
  _mm256_storeu_ps(out, s);
  if (out[0] == 42.0f) puts("");
  return iters * 12.0 * 8 * 2 / t / 1e9;
#undef FMA
}

int main(int argc, char **argv) {
  int bits = argc > 1 ? atoi(argv[1]) : 512;
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
