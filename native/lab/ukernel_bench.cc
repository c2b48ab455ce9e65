// Lab: compare AVX-512 micro-kernel shapes on packed, cache-resident panels.
// g++ -O3 -std=c++17 native/lab/ukernel_bench.cc -o /tmp/ukb && /tmp/ukb
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

template <int MR, int NV>
T512 __attribute__((noinline)) void ukernel(long kc, const float* a, const float* b, float* c, long ldc) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (long k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + v * 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
    a += MR;
    b += NV * 16;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* p = c + i * ldc + v * 16;
      _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), acc[i][v]));
    }
}

template <int MR, int NV>
void bench(long kc, int npan_a, int npan_b) {
  constexpr int NR = NV * 16;
  float* a = (float*)aligned_alloc(64, sizeof(float) * MR * kc * npan_a);
  float* b = (float*)aligned_alloc(64, sizeof(float) * NR * kc * npan_b);
  std::vector<float> c((size_t)MR * npan_a * NR * npan_b, 0.f);
  for (long i = 0; i < MR * kc * npan_a; ++i) a[i] = 1e-3f * (i % 7);
  for (long i = 0; i < NR * kc * npan_b; ++i) b[i] = 1e-3f * (i % 5);
  long ldc = NR * npan_b;
  double best = 0;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    int iters = 20;
    for (int it = 0; it < iters; ++it)
      for (int jb = 0; jb < npan_b; ++jb)
        for (int ia = 0; ia < npan_a; ++ia)
          ukernel<MR, NV>(kc, a + ia * MR * kc, b + jb * NR * kc, c.data() + ia * MR * ldc + jb * NR, ldc);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double gf = 2.0 * MR * NR * kc * npan_a * npan_b * iters / s / 1e9;
    if (gf > best) best = gf;
  }
  printf("MR=%2d NR=%2d kc=%ld pa=%d pb=%d : %.1f GFLOPS\n", MR, NR, kc, npan_a, npan_b, best);
  free(a); free(b);
}

int main() {
  for (long kc : {256L, 384L}) {
    bench<14, 2>(kc, 24, 16);
    bench<12, 2>(kc, 28, 16);
    bench<8, 3>(kc, 42, 11);
    bench<6, 4>(kc, 56, 8);
    bench<4, 4>(kc, 84, 8);
  }
}
