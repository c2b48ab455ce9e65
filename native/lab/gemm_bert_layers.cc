// Lab: one BERT-base forward's 72 linears (x @ W^T + b as beta = 1 onto the bias rows, M = 1024),
// through 12 layers of distinct weights (cold, as in the model) and then one layer's weights 72
// times (hot); 1 thread, process CPU time, so it reads the same on a loaded machine. Profile the
// split between micro-kernel and packing with `perf record -e cpu-clock`.
//   g++ -O3 -std=c++17 -pthread -Inative/src native/lab/gemm_bert_layers.cc \
//     native/src/{cpu,threadpool,gemm,gemm_avx512,gemm_avx2,gemm_portable,kernels/elementwise}.cc -o /tmp/gemm_bert
#include <time.h>
#include <cstdio>
#include <vector>
#include <random>
#include "gemm.h"
#include "threadpool.h"
static double cpu_ms() { timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
struct L { int n, k; };
int main() {
  strata::set_thread_count(1);
  const L lin[6] = {{768, 768}, {768, 768}, {768, 768}, {768, 768}, {3072, 768}, {768, 3072}};
  std::mt19937 rng(1); std::uniform_real_distribution<float> d(-1, 1);
  std::vector<std::vector<float>> w(12 * 6);
  for (int l = 0; l < 12; l++) for (int i = 0; i < 6; i++) { w[l * 6 + i].resize(lin[i].n * lin[i].k); for (auto& v : w[l * 6 + i]) v = d(rng); }
  std::vector<float> x(1024 * 3072), c(1024 * 3072);
  for (auto& v : x) v = d(rng);
  for (int mode = 0; mode < 2; mode++) for (int rep = 0; rep < 3; rep++) {
    double t0 = cpu_ms();
    for (int l = 0; l < 12; l++) for (int i = 0; i < 6; i++) {
      const float* wb = w[(mode ? 0 : l) * 6 + i].data();
      strata::GemmArgs p; p.a = x.data(); p.lda = lin[i].k; p.b = wb; p.ldb = lin[i].k; p.trans_b = true; p.c = c.data(); p.ldc = lin[i].n;
      p.m = 1024; p.n = lin[i].n; p.k = lin[i].k; p.beta = 1.0f; strata::gemm_f32(p);
    }
    printf("%s weights: %.0f ms for 72 linears\n", mode ? "hot " : "cold", cpu_ms() - t0);
  }
}
