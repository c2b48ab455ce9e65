// Lab: the blocked attention route's AVX-512 row softmax against the auto-vectorized clone it
// replaces on AVX-512 CPUs (validator: every output bit equal, over key counts on and off the
// 16-lane grid, causal limits, additive masks with -inf keys, fully masked rows and NaN scores),
// then both timed on one BERT-base forward's rows (147,456 rows of 128 keys), 1 thread.
//   g++ -O3 -std=c++17 -pthread -Inative/src native/lab/softmax_rows.cc \
//     native/src/{cpu,threadpool,gemm,gemm_avx512,gemm_avx2,gemm_portable,kernels/elementwise}.cc -o /tmp/softmax_rows
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention.cc"  // the kernels under test live in its anonymous namespace

static double cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main() {
  using namespace strata;
  if (active_isa() != Isa::kAvx512) {
    std::printf("no AVX-512 on this CPU: nothing to compare\n");
    return 0;
  }
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 4.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  long cases = 0, bad = 0;
  for (int n : {1, 5, 15, 16, 17, 31, 48, 64, 100, 128, 130, 257}) {
    for (int variant = 0; variant < 6; variant++) {
      const int limit = variant == 1 ? std::max(1, n / 3) : n;  // a causal row sees a prefix
      std::vector<float> s(n), mask(n);
      for (auto& v : s) v = d(rng);
      for (auto& v : mask) v = u(rng) < 0.3f ? -INFINITY : (variant == 3 ? -3.0f : 0.0f);
      if (variant == 4) for (auto& v : mask) v = -INFINITY;       // every key masked
      if (variant == 5) s[n / 2] = NAN;                              // a NaN score
      const float* m = variant == 0 ? nullptr : mask.data();
      std::vector<float> a = s, b = s;
      softmax_scores(a.data(), n, limit, m);
      softmax_scores_avx512(b.data(), n, limit, m);
      cases++;
      if (std::memcmp(a.data(), b.data(), n * sizeof(float)) != 0) {
        bad++;
        std::printf("MISMATCH n=%d limit=%d variant=%d\n", n, limit, variant);
      }
    }
  }
  std::printf("%ld cases, %ld differ\n", cases, bad);
  const int rows = 147456, n = 128;
  std::vector<float> x(static_cast<size_t>(rows) * n), mask(n, 0.0f), y;
  for (auto& v : x) v = d(rng);
  for (int impl = 0; impl < 2; impl++) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
      y = x;
      const double t0 = cpu_ms();
      for (int r = 0; r < rows; r++) {
        float* row = y.data() + static_cast<size_t>(r) * n;
        if (impl == 0) softmax_scores(row, n, n, mask.data());
        else softmax_scores_avx512(row, n, n, mask.data());
      }
      best = std::min(best, cpu_ms() - t0);
    }
    std::printf("%s: %.1f ms for a forward's rows\n", impl == 0 ? "clone " : "avx512", best);
  }
  return bad == 0 ? 0 : 1;
}
