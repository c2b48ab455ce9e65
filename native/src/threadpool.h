// The one process-wide thread pool that every kernel shares.
//
// parallel_for(n, fn) runs fn(task, worker) for task in [0, n) on the pool, the calling thread
// included, and returns when all tasks are done. Concurrency policy: one parallel_for runs on the
// pool at a time. A call made while the pool is busy (from another Node worker_thread, or from
// inside a task) does not wait: it runs all its tasks inline on its own thread. That keeps
// independent callers from blocking each other and makes nesting deadlock-free.
//
// The first exception thrown by a task is rethrown on the calling thread once every task has
// finished; the remaining tasks still run.
#pragma once

#include <cstdint>
#include <utility>

namespace strata {

// Threads used by parallel_for, the caller included. At least 1.
int thread_count();

// Sets the thread count (clamped to [1, kMaxThreads]); returns the count now in effect, which is
// lower than asked if the OS refused to start threads. Waits for a running parallel_for to end.
int set_thread_count(int n);

constexpr int kMaxThreads = 256;

// Default thread count: STRATA_THREADS when it holds a positive integer, else the CPUs this
// process may run on.
int default_thread_count();

using TaskFn = void (*)(void* ctx, int64_t task, int worker);

void parallel_for_raw(int64_t n_tasks, TaskFn fn, void* ctx);

// fn(int64_t task, int worker): worker is 0 for the calling thread, 1.. for pool threads.
template <class Fn>
void parallel_for(int64_t n_tasks, Fn&& fn) {
  using F = std::remove_reference_t<Fn>;
  parallel_for_raw(
      n_tasks, [](void* ctx, int64_t task, int worker) { (*static_cast<F*>(ctx))(task, worker); },
      const_cast<void*>(static_cast<const void*>(&fn)));
}

}  // namespace strata
