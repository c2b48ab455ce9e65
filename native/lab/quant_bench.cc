// Lab: the quantized matmul kernels. Checks every kernel table this CPU can run, and the driver
// (packed panels from 8 rows on), against the portable one (same activation quantization, so the results agree to f32 rounding), then times
// quant_matmul / half_matmul / gemm_f32 through the drivers (STRATA_ISA, STRATA_THREADS apply).
//   g++ -O3 -std=c++17 -pthread -Inative/src native/lab/quant_bench.cc \
//     native/src/{cpu,threadpool,gemm,gemm_avx512,gemm_avx2,gemm_portable}.cc \
//     native/src/quant/quant_{portable,avx2,avx512,matmul}.cc -o /tmp/quant_bench
//   /tmp/quant_bench [reps] [K N]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "quant/quant.h"
#include "threadpool.h"

using namespace strata;
using namespace strata::quant;

namespace {

std::mt19937 rng(1234);

uint16_t f32_to_f16_simple(float f) {  // scales only: normal, positive or negative, in range
  uint32_t b;
  std::memcpy(&b, &f, 4);
  const uint32_t sign = (b >> 16) & 0x8000u;
  const int e = static_cast<int>((b >> 23) & 0xFF) - 127 + 15;
  return static_cast<uint16_t>(sign | (e << 10) | ((b >> 13) & 0x3FF));
}

std::vector<uint8_t> random_weights(const QTypeInfo& t, int64_t n, int64_t k) {
  const int64_t nb = n * k / t.block_values;
  std::vector<uint8_t> w(static_cast<size_t>(nb * t.block_bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> sc(0.001f, 0.02f);
  for (auto& v : w) v = static_cast<uint8_t>(byte(rng));
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* blk = w.data() + b * t.block_bytes;
    auto put = [&](int off, float v) {
      const uint16_t h = f32_to_f16_simple(v);
      blk[off] = h & 0xFF;
      blk[off + 1] = h >> 8;
    };
    if (t.code == QType::kQ6_K) put(208, sc(rng));
    else put(0, sc(rng));
    if (t.code == QType::kQ4_K) put(2, sc(rng));
  }
  return w;
}

// y = x · W^T with one kernel table, single-threaded.
void run_table(const QuantKernels& kr, const QTypeInfo& t, const uint8_t* w, int64_t ldw,
               const float* x, int64_t m, int64_t n, int64_t k, float* y) {
  const int64_t blocks = k / t.act_block;
  std::vector<int8_t> qs(m * k);
  std::vector<float> d(m * blocks), dexp(m * blocks * 8);
  std::vector<int32_t> corr(m * blocks * 8);
  std::vector<int16_t> s16(m * k / 16);
  std::vector<ActRow> acts(m);
  for (int64_t i = 0; i < m; ++i) {
    acts[i] = {qs.data() + i * k, d.data() + i * blocks, dexp.data() + i * blocks * 8, corr.data() + i * blocks * 8,
               s16.data() + i * k / 16};
    kr.quantize_row(t, x + i * k, k, acts[i]);
  }
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < m; i += kMaxRows) {
      const int nr = static_cast<int>(std::min<int64_t>(kMaxRows, m - i));
      float res[kMaxRows];
      kr.dot[t.index](w + j * ldw, k, acts.data() + i, nr, res);
      for (int r = 0; r < nr; ++r) y[(i + r) * n + j] = res[r];
    }
  }
}

double seconds_of(const std::function<void()>& fn, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const int64_t K = argc > 3 ? std::atoll(argv[2]) : 3072, N = argc > 3 ? std::atoll(argv[3]) : 3072;
  const char* names[] = {"q4_0", "q8_0", "q4_k", "q6_k"};
  const int codes[] = {2, 8, 12, 14};
  std::vector<const QuantKernels*> tables = {&kQuantPortable};
  if (cpu_features().avx2 && cpu_features().fma) tables.push_back(&kQuantAvx2);
  if (cpu_features().avx512f && cpu_features().avx512bw && cpu_features().avx512vnni) tables.push_back(&kQuantAvx512Vnni);

  std::normal_distribution<float> normal(0.0f, 1.0f);
  // correctness: each table against the portable one
  bool ok = true;
  for (int ti = 0; ti < 4; ++ti) {
    QTypeInfo t;
    qtype_info(codes[ti], &t);
    for (int64_t k : {int64_t{256}, int64_t{512}, int64_t{1280}, int64_t{1792}}) {
      for (int64_t m : {int64_t{1}, int64_t{3}, int64_t{6}, int64_t{9}, int64_t{33}}) {
        const int64_t n = 37;
        auto w = random_weights(t, n, k);
        const int64_t ldw = k / t.block_values * t.block_bytes;
        std::vector<float> x(m * k), y0(m * n), y1(m * n);
        for (auto& v : x) v = normal(rng);
        run_table(kQuantPortable, t, w.data(), ldw, x.data(), m, n, k, y0.data());
        std::vector<const QuantKernels*> runs(tables.begin(), tables.end());
        runs.push_back(nullptr);  // the driver: packed panels from 8 rows on
        for (const QuantKernels* kr : runs) {
          if (kr) run_table(*kr, t, w.data(), ldw, x.data(), m, n, k, y1.data());
          else quant_matmul(t, w.data(), ldw, x.data(), m, n, k, y1.data());
          double worst = 0, scale = 0;
          for (size_t i = 0; i < y0.size(); ++i) {
            worst = std::max(worst, std::fabs(double(y0[i]) - y1[i]));
            scale = std::max(scale, std::fabs(double(y0[i])));
          }
          if (worst > 1e-5 * (scale + 1)) {
            std::printf("MISMATCH %s %s k=%lld m=%lld: max diff %.3g (scale %.3g)\n", kr ? kr->name : "driver", names[ti],
                        (long long)k, (long long)m, worst, scale);
            ok = false;
          }
        }
      }
    }
  }
  std::printf("tables:");
  for (auto* kr : tables) std::printf(" %s", kr->name);
  std::printf(" -> %s; driver uses %s, %d threads\n", ok ? "agree" : "DISAGREE", quant_kernels().name, thread_count());

  // timing
  for (int64_t M : {int64_t{1}, int64_t{64}}) {
    std::vector<float> x(M * K), y(M * N);
    for (auto& v : x) v = normal(rng);
    std::vector<float> wf(N * K);
    for (auto& v : wf) v = normal(rng) * 0.02f;
    const double flops = 2.0 * M * N * K;
    GemmArgs g;
    g.a = x.data(); g.lda = K; g.b = wf.data(); g.ldb = K; g.trans_b = true; g.c = y.data(); g.ldc = N;
    g.m = M; g.n = N; g.k = K;
    double s = seconds_of([&] { gemm_f32(g); }, reps);
    std::printf("M=%-3lld K=%lld N=%lld  f32   %7.1f GFLOPS %6.1f GB/s\n", (long long)M, (long long)K, (long long)N,
                flops / s * 1e-9, N * K * 4.0 / s * 1e-9);
    std::vector<uint16_t> wh(N * K, 0x3C00);
    s = seconds_of([&] { half_matmul(false, wh.data(), K, x.data(), M, N, K, y.data()); }, reps);
    std::printf("M=%-3lld K=%lld N=%lld  f16   %7.1f GFLOPS %6.1f GB/s\n", (long long)M, (long long)K, (long long)N,
                flops / s * 1e-9, N * K * 2.0 / s * 1e-9);
    for (int ti = 0; ti < 4; ++ti) {
      QTypeInfo t;
      qtype_info(codes[ti], &t);
      auto w = random_weights(t, N, K);
      const int64_t ldw = K / t.block_values * t.block_bytes;
      s = seconds_of([&] { quant_matmul(t, w.data(), ldw, x.data(), M, N, K, y.data()); }, reps);
      std::printf("M=%-3lld K=%lld N=%lld  %s  %7.1f GFLOPS %6.1f GB/s\n", (long long)M, (long long)K, (long long)N,
                  names[ti], flops / s * 1e-9, double(w.size()) / s * 1e-9);
    }
  }
  return ok ? 0 : 1;
}
