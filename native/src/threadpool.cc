#include "threadpool.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define STRATA_CPU_RELAX() _mm_pause()
#else
#define STRATA_CPU_RELAX() std::this_thread::yield()
#endif

namespace strata {

namespace {

// A job lives on the stack of the thread that called parallel_for.
struct Job {
  TaskFn fn;
  void* ctx;
  int64_t n_tasks;
  // Counters on their own cache lines: every participant hammers `next`.
  alignas(64) std::atomic<int64_t> next{0};
  alignas(64) std::atomic<int64_t> done{0};
  alignas(64) std::atomic<bool> failed{false};
  std::exception_ptr error;  // written once, by whoever sets `failed` first
};

void run_tasks(Job& job, int worker) {
  int64_t finished = 0;
  for (;;) {
    const int64_t task = job.next.fetch_add(1, std::memory_order_relaxed);
    if (task >= job.n_tasks) break;
    try {
      job.fn(job.ctx, task, worker);
    } catch (...) {
      if (!job.failed.exchange(true)) job.error = std::current_exception();
    }
    ++finished;
  }
  if (finished != 0) job.done.fetch_add(finished, std::memory_order_release);
}

// How long an idle worker spins before it sleeps: long enough to catch the next op of a model's
// forward pass (waking a sleeping thread costs ~10-20 us here), short enough not to hog a core.
constexpr auto kWorkerSpin = std::chrono::microseconds(100);
// The calling thread's wait for the last tasks: spin this many pauses, then yield between checks.
constexpr int kCallerSpinPauses = 4000;

// Spins until pred() holds or `budget` passes; returns whether pred() held.
template <class Pred>
bool spin_until(Pred pred, std::chrono::microseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (pred()) return true;
      STRATA_CPU_RELAX();
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

class Pool {
 public:
  Pool() : threads_(default_thread_count()) {}

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  int resize(int n) {
    n = std::clamp(n, 1, kMaxThreads);
    std::lock_guard<std::mutex> run(run_mutex_);
    stop_workers();
    threads_.store(n, std::memory_order_relaxed);
    started_ = false;
    return start_workers();
  }

  void run(int64_t n_tasks, TaskFn fn, void* ctx) {
    Job job;
    job.fn = fn;
    job.ctx = ctx;
    job.n_tasks = n_tasks;
    if (n_tasks <= 1 || threads() <= 1 || !run_mutex_.try_lock()) {
      run_tasks(job, 0);
      finish(job);
      return;
    }
    std::lock_guard<std::mutex> run(run_mutex_, std::adopt_lock);
    if (!started_) start_workers();
    if (workers_.empty()) {
      run_tasks(job, 0);
      finish(job);
      return;
    }
    current_.store(&job, std::memory_order_seq_cst);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      wake_.notify_all();
    }
    run_tasks(job, 0);
    for (int spins = 0; job.done.load(std::memory_order_acquire) < n_tasks; ++spins) {
      if (spins < kCallerSpinPauses) {
        STRATA_CPU_RELAX();
      } else {
        std::this_thread::yield();
      }
    }
    // Workers that picked up the job pointer may still be reading it; wait until they let go.
    current_.store(nullptr, std::memory_order_seq_cst);
    while (inflight_.load(std::memory_order_seq_cst) != 0) STRATA_CPU_RELAX();
    finish(job);
  }

 private:
  static void finish(Job& job) {
    if (job.failed.load()) std::rethrow_exception(job.error);
  }

  // Called with run_mutex_ held.
  int start_workers() {
    started_ = true;
    const int wanted = threads() - 1;
    stop_.store(false);
    // Workers start from the generation current now, not whenever they first get scheduled: a
    // job or a stop issued before a new thread runs must still reach it.
    const uint64_t generation = generation_.load();
    for (int i = 0; i < wanted; ++i) {
      try {
        workers_.emplace_back([this, i, generation] { worker_loop(i + 1, generation); });
      } catch (...) {
        break;  // the OS refused a thread: run with the ones we have
      }
    }
    threads_.store(static_cast<int>(workers_.size()) + 1, std::memory_order_relaxed);
    return threads();
  }

  // Called with run_mutex_ held.
  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      stop_.store(true);
      generation_.fetch_add(1);
      wake_.notify_all();
    }
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  void worker_loop(int index, uint64_t seen) {
    for (;;) {
      const bool changed = spin_until(
          [&] { return generation_.load(std::memory_order_acquire) != seen; }, kWorkerSpin);
      if (!changed) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] {
          return generation_.load(std::memory_order_seq_cst) != seen || stop_.load();
        });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      if (stop_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      inflight_.fetch_add(1, std::memory_order_seq_cst);
      Job* job = current_.load(std::memory_order_seq_cst);
      if (job != nullptr) run_tasks(*job, index);
      inflight_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  std::atomic<int> threads_;
  bool started_ = false;  // guarded by run_mutex_
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // held by the one parallel_for that owns the workers
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> inflight_{0};
  std::atomic<Job*> current_{nullptr};
  std::atomic<bool> stop_{false};
};

// Never destroyed: worker threads may outlive static destruction at process exit, and joining
// them there could block exit.
Pool& pool() {
  static Pool* instance = new Pool();
  return *instance;
}

}  // namespace

int default_thread_count() {
  if (const char* env = std::getenv("STRATA_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1) return static_cast<int>(std::min<long>(n, kMaxThreads));
  }
  int n = 0;
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
#endif
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(n, 1, kMaxThreads);
}

int thread_count() { return pool().threads(); }

int set_thread_count(int n) { return pool().resize(n); }

void parallel_for_raw(int64_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  pool().run(n_tasks, fn, ctx);
}

}  // namespace strata
