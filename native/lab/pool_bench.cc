// Lab: round-trip cost of an (almost) empty parallel_for on the pool.
//   g++ -O3 -std=c++17 -pthread -Inative/src native/lab/pool_bench.cc native/src/threadpool.cc
//     -o /tmp/pool_bench && /tmp/pool_bench
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>

#include "threadpool.h"

int main() {
  std::atomic<long> sink{0};
  for (int tasks : {2, 8, 64}) {
    for (int gap_us : {0, 50, 1000}) {
      double best = 1e9;
      for (int rep = 0; rep < 5; ++rep) {
        const int iters = gap_us ? 200 : 20000;
        double total = 0;
        for (int i = 0; i < iters; ++i) {
          if (gap_us) {
            const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(gap_us);
            while (std::chrono::steady_clock::now() < until) {
            }
          }
          const auto t0 = std::chrono::steady_clock::now();
          strata::parallel_for(tasks, [&](int64_t t, int) { sink.fetch_add(t, std::memory_order_relaxed); });
          total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        best = std::min(best, total / iters * 1e6);
      }
      std::printf("tasks=%2d gap=%4dus : %.2f us per parallel_for\n", tasks, gap_us, best);
    }
  }
}
