// Lab: one BERT-base forward's linears as the model now runs them (M = 1024; per layer one
// stacked QKV GEMM, N = 2304, then the output dense, the intermediate with its GELU epilogue and
// the output; bias rows), through 12 layers of distinct weights, with B packed ahead
// (gemm_pack_b, as inference does) or packed on every call. Each linear writes its own output
// buffer and reads the previous one's, as in the model. 1 thread, process CPU time.
//   g++ -O3 -std=c++17 -pthread -Inative/src native/lab/gemm_packed_layers.cc \
//     native/src/{cpu,threadpool,gemm,gemm_avx512,gemm_avx2,gemm_portable,kernels/elementwise}.cc -o /tmp/gemm_packed
//   /tmp/gemm_packed [rounds] [M] [threads]   (with threads > 1 it reports wall time too)
#include <time.h>

#include <chrono>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "gemm.h"
#include "threadpool.h"

static double cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct Linear {
  int n, k;
  strata::GemmEpilogue act;
};

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int64_t rows = argc > 2 ? std::atoi(argv[2]) : 1024;  // M: tokens per forward
  strata::set_thread_count(argc > 3 ? std::atoi(argv[3]) : 1);
  const Linear lin[4] = {{2304, 768, strata::GemmEpilogue::kNone},
                         {768, 768, strata::GemmEpilogue::kNone},
                         {3072, 768, strata::GemmEpilogue::kGelu},
                         {768, 3072, strata::GemmEpilogue::kNone}};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<std::vector<float>> w(12 * 4), packed(12 * 4), bias(4);
  for (int l = 0; l < 12; l++) {
    for (int i = 0; i < 4; i++) {
      auto& wi = w[l * 4 + i];
      wi.resize(static_cast<size_t>(lin[i].n) * lin[i].k);
      for (auto& v : wi) v = d(rng) * 0.05f;
      // +16 floats: the binding's alignment slack, mimicked with an aligned start here
      packed[l * 4 + i].resize(strata::gemm_packed_b_size(lin[i].k, lin[i].n) + 16);
    }
  }
  for (int i = 0; i < 4; i++) {
    bias[i].resize(lin[i].n);
    for (auto& v : bias[i]) v = d(rng);
  }
  auto aligned = [](std::vector<float>& v) {
    auto addr = reinterpret_cast<uintptr_t>(v.data());
    return v.data() + ((64 - addr % 64) % 64) / sizeof(float);
  };
  for (int l = 0; l < 12; l++) {
    for (int i = 0; i < 4; i++) strata::gemm_pack_b(w[l * 4 + i].data(), lin[i].k, true, lin[i].k, lin[i].n, aligned(packed[l * 4 + i]));
  }
  // activations: the input and each linear's output (as the model's distinct tensors)
  std::vector<float> x(rows * 768), out[4];
  for (auto& v : x) v = d(rng);
  for (int i = 0; i < 4; i++) out[i].resize(rows * static_cast<size_t>(lin[i].n));
  for (int mode = 0; mode < 2; mode++) {
    double best = 1e30, best_wall = 1e30;
    for (int rep = 0; rep < rounds; rep++) {
      const double t0 = cpu_ms();
      const auto w0 = std::chrono::steady_clock::now();
      for (int l = 0; l < 12; l++) {
        for (int i = 0; i < 4; i++) {
          // inputs: x for QKV and the intermediate, the attention-sized QKV slice for the dense,
          // the intermediate's output for the output dense
          const float* a = i == 3 ? out[2].data() : x.data();
          const int64_t lda = i == 3 ? 3072 : i == 1 ? 2304 : 768;
          strata::GemmArgs p;
          p.a = i == 1 ? out[0].data() : a;
          p.lda = lda;
          p.c = out[i].data();
          p.ldc = lin[i].n;
          p.m = rows;
          p.n = lin[i].n;
          p.k = lin[i].k;
          p.bias = bias[i].data();
          p.epilogue = lin[i].act;
          if (mode == 0) {
            p.packed_b = aligned(packed[l * 4 + i]);
          } else {
            p.b = w[l * 4 + i].data();
            p.ldb = lin[i].k;
            p.trans_b = true;
          }
          strata::gemm_f32(p);
        }
      }
      const double ms = cpu_ms() - t0;
      if (ms < best) best = ms;
      best_wall = std::min(best_wall, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count());
    }
    const double gflop = 12.0 * 2 * rows * (2304.0 * 768 + 768.0 * 768 + 3072.0 * 768 * 2) / 1e9;
    std::printf("%s: best %.0f ms CPU, %.0f ms wall for 48 linears (%.0f GFLOPS per CPU second)\n", mode == 0 ? "packed ahead" : "packed per call", best, best_wall, gflop / best * 1e3);
  }
}
