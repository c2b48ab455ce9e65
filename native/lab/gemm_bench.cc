// Lab: GFLOPS of strata::gemm_f32 on the product's shapes, with a spot check against a double
// reference. Build and run (STRATA_ISA / STRATA_THREADS apply):
//   g++ -O3 -std=c++17 -pthread -Inative/src native/lab/gemm_bench.cc native/src/{cpu,threadpool,
//     gemm,gemm_avx512,gemm_avx2,gemm_portable}.cc -o /tmp/gemm_bench
//   /tmp/gemm_bench [reps] [MxNxK[:NT][:b<batch>] ...]     (no shapes: the product's shape list)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "gemm.h"
#include "threadpool.h"

namespace {

struct Shape {
  int64_t m, n, k;
  bool ta, tb;
  int64_t batch;
};

double max_rel_error(const Shape& s, const std::vector<float>& a, const std::vector<float>& b,
                     const std::vector<float>& c) {
  // Spot-check a few rows of the first batch.
  const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  double worst = 0;
  for (int64_t i : {int64_t{0}, s.m / 2, s.m - 1}) {
    for (int64_t j = 0; j < s.n; j += std::max<int64_t>(1, s.n / 97)) {
      double acc = 0, mag = 0;
      for (int64_t k = 0; k < s.k; ++k) {
        const double av = s.ta ? a[k * lda + i] : a[i * lda + k];
        const double bv = s.tb ? b[j * ldb + k] : b[k * ldb + j];
        acc += av * bv;
        mag += std::fabs(av * bv);
      }
      worst = std::max(worst, std::fabs(acc - c[i * s.n + j]) / (mag + 1e-30));
    }
  }
  return worst;
}

double bench(const Shape& s, int reps) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> a(s.m * s.k * s.batch), b(s.k * s.n * s.batch), c(s.m * s.n * s.batch);
  for (float& v : a) v = dist(rng);
  for (float& v : b) v = dist(rng);
  strata::GemmArgs p;
  p.a = a.data();
  p.b = b.data();
  p.c = c.data();
  p.trans_a = s.ta;
  p.trans_b = s.tb;
  p.lda = s.ta ? s.m : s.k;
  p.ldb = s.tb ? s.k : s.n;
  p.ldc = s.n;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.batch = s.batch;
  p.stride_a = s.m * s.k;
  p.stride_b = s.k * s.n;
  p.stride_c = s.m * s.n;
  const double flops = 2.0 * s.m * s.n * s.k * s.batch;
  const int inner = std::max(1, static_cast<int>(2e9 / 10 / flops));  // ~0.1 s per sample at 200 GF
  strata::gemm_f32(p);
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) strata::gemm_f32(p);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flops * inner / sec / 1e9);
  }
  const double err = max_rel_error(s, a, b, c);
  if (err > 1e-5) std::printf("  !! relative error %.3g\n", err);
  return best;
}

}  // namespace

// "MxNxK", optionally followed by ":NT"-style transpose flags and ":b<batch>".
bool parse_shape(const char* text, Shape* s) {
  long long m, n, k;
  char flags[3] = "NN";
  long long batch = 1;
  if (std::sscanf(text, "%lldx%lldx%lld", &m, &n, &k) != 3) return false;
  if (const char* colon = std::strchr(text, ':')) {
    if (std::strlen(colon) >= 3 && (colon[1] == 'N' || colon[1] == 'T')) {
      flags[0] = colon[1];
      flags[1] = colon[2];
      colon = std::strchr(colon + 1, ':');
    }
    if (colon && colon[1] == 'b') batch = std::atoll(colon + 2);
  }
  *s = Shape{m, n, k, flags[0] == 'T', flags[1] == 'T', batch};
  return true;
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  std::vector<Shape> custom;
  for (int i = 2; i < argc; ++i) {
    Shape s;
    if (parse_shape(argv[i], &s)) custom.push_back(s);
  }
  const std::vector<Shape> defaults = {
      {1024, 1024, 1024, false, false, 1}, {1024, 1024, 1024, false, true, 1},
      {512, 3072, 768, false, true, 1},    {512, 768, 3072, false, true, 1},
      {512, 3072, 768, false, false, 1},   {512, 768, 3072, false, false, 1},
      {1, 3072, 768, false, true, 1},      {1, 3072, 768, false, false, 1},
      {4096, 4096, 1024, false, false, 1}, {256, 256, 256, false, false, 1},
      {256, 256, 256, false, true, 1},     {128, 128, 64, false, true, 12},
      {2, 3072, 768, false, true, 1},      {4, 3072, 768, false, true, 1},
      {8, 3072, 768, false, true, 1},      {12, 3072, 768, false, true, 1},
      {16, 3072, 768, false, true, 1},     {4, 3072, 768, false, false, 1},
      {8, 3072, 768, false, false, 1},     {16, 3072, 768, false, false, 1},
      {3072, 4, 768, false, false, 1},     {3072, 4, 768, true, false, 1},
      {4, 256, 768, false, true, 1},       {8, 256, 768, false, true, 1},
      {1, 256, 768, false, true, 1},       {1, 256, 768, false, false, 1},
      {64, 64, 64, false, false, 1},       {8, 8, 8, false, false, 1},
  };
  const std::vector<Shape>& shapes = custom.empty() ? defaults : custom;
  std::printf("isa=%s threads=%d\n", strata::gemm_isa_name(), strata::thread_count());
  for (const Shape& s : shapes) {
    const double gf = bench(s, reps);
    std::printf("M=%5lld N=%5lld K=%5lld %c%c batch=%lld : %7.1f GFLOPS\n", (long long)s.m,
                (long long)s.n, (long long)s.k, s.ta ? 'T' : 'N', s.tb ? 'T' : 'N',
                (long long)s.batch, gf);
  }
}
