// Lab validator: a hash of the exact bits gemm_f32 writes over a spread of shapes (K on both sides
// of the 256-product chains and the K blocks, tails, skinny shapes, bias, alpha/beta, GELU
// epilogue, B transposed or not). Build it against two source trees and compare the hashes:
// equal hashes mean a blocking or kernel change kept every rounding.
//   g++ -O2 -std=c++17 -pthread -Inative/src native/lab/gemm_rounding_check.cc \
//     native/src/{cpu,threadpool,gemm,gemm_avx512,gemm_avx2,gemm_portable,kernels/elementwise}.cc -o /tmp/gemm_bits
//   /tmp/gemm_bits [threads]
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
#include "gemm.h"
#include "threadpool.h"
int main(int argc, char** argv) {
  strata::set_thread_count(argc > 1 ? atoi(argv[1]) : 1);
  std::mt19937 rng(5); std::normal_distribution<float> d(0, 1);
  const int ks[] = {1, 7, 64, 255, 256, 257, 300, 511, 512, 513, 767, 768, 769, 1000, 1536, 2000, 3072};
  const int shapes[][2] = {{37, 100}, {64, 96}, {9, 49}, {200, 768}, {1, 1}, {3, 70}, {90, 5}};
  unsigned long long h = 1469598103934665603ULL;
  long count = 0;
  for (int K : ks) for (auto& sh : shapes) for (int tb = 0; tb < 2; tb++) for (int variant = 0; variant < 4; variant++) {
    const int M = sh[0], N = sh[1];
    std::vector<float> a(M * K), b(K * N), bias(N), c(M * N);
    for (auto& v : a) v = d(rng); for (auto& v : b) v = d(rng); for (auto& v : bias) v = d(rng); for (auto& v : c) v = d(rng);
    strata::GemmArgs p; p.a = a.data(); p.lda = K; p.b = b.data(); p.ldb = tb ? K : N; p.trans_b = tb; p.c = c.data(); p.ldc = N;
    p.m = M; p.n = N; p.k = K;
    if (variant == 1) p.bias = bias.data();
    if (variant == 2) { p.beta = 0.5f; p.alpha = 0.75f; }
    if (variant == 3) { p.bias = bias.data(); p.epilogue = strata::GemmEpilogue::kGelu; }
    strata::gemm_f32(p);
    for (float v : c) { unsigned u; memcpy(&u, &v, 4); h = (h ^ u) * 1099511628211ULL; }
    count += c.size();
  }
  printf("%ld values, hash %016llx\n", count, h);
}
