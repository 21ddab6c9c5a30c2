#include "core/threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera {
namespace {

thread_local bool tl_in_worker = false;

int default_threads() {
  if (const char* env = std::getenv("TESSERA_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, 1024);
  }
  return hardware_threads();
}

// Work is handed out in chunks through an atomic counter; each chunk is a
// contiguous range. The calling thread takes part, so a pool of T threads has
// T-1 workers.
//
// Each parallel region is its own Job with its own counters. A worker that is
// still finishing one region (it has run its last chunk and is about to find
// the counter exhausted) can therefore never take a chunk of, or count a chunk
// done in, the next region: with shared counters, such a late increment could
// land between the next region's reset and its first chunk and be lost, leaving
// the caller waiting forever.
class Pool {
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn = nullptr;
    int64_t n = 0, chunk = 1, chunks = 0;
    std::atomic<int64_t> next{0}, done{0};
    std::mutex error_mu;
    std::exception_ptr error;
  };

 public:
  static Pool& get() {
    static Pool pool;
    return pool;
  }

  int threads() {
    std::lock_guard<std::mutex> lk(config_mu_);
    return threads_;
  }

  void set_threads(int n) {
    std::lock_guard<std::mutex> run_lk(run_mu_);
    std::lock_guard<std::mutex> lk(config_mu_);
    int want = n > 0 ? n : default_threads();
    if (want == threads_) return;
    stop_workers();
    threads_ = want;
    start_workers();
  }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    int t = threads();
    if (tl_in_worker || t <= 1 || n <= grain) {
      fn(0, n);
      return;
    }
    std::lock_guard<std::mutex> run_lk(run_mu_);  // one parallel region at a time
    auto job = std::make_shared<Job>();
    int64_t max_chunks = (n + grain - 1) / grain;
    int64_t chunks = std::min<int64_t>(max_chunks, int64_t(t) * 4);
    job->chunk = (n + chunks - 1) / chunks;
    job->chunks = (n + job->chunk - 1) / job->chunk;
    job->n = n;
    job->fn = &fn;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = job;
      ++generation_;
    }
    cv_.notify_all();
    work(*job);
    {
      std::unique_lock<std::mutex> lk(mu_);
      done_cv_.wait(lk, [&] { return job->done.load() == job->chunks; });
      job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
  }

  ~Pool() { stop_workers(); }

 private:
  Pool() {
    threads_ = default_threads();
    start_workers();
  }

  void start_workers() {
    stop_ = false;
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { loop(); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  // Runs chunks of `job` until none are left. fn is only called for a claimed
  // chunk, and the caller waits for every claimed chunk, so fn is alive then.
  void work(Job& job) {
    bool was = tl_in_worker;
    tl_in_worker = true;
    for (;;) {
      int64_t c = job.next.fetch_add(1);
      if (c >= job.chunks) break;
      int64_t b = c * job.chunk, e = std::min(job.n, b + job.chunk);
      try {
        (*job.fn)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(job.error_mu);
        if (!job.error) job.error = std::current_exception();
      }
      if (job.done.fetch_add(1) + 1 == job.chunks) {
        std::lock_guard<std::mutex> lk(mu_);  // the caller checks `done` under mu_: no lost wake-up
        done_cv_.notify_all();
      }
    }
    tl_in_worker = was;
  }

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      work(*job);
    }
  }

  std::mutex config_mu_, run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  int threads_ = 1;
  bool stop_ = false;
  uint64_t generation_ = 0;
  std::shared_ptr<Job> job_;  // the running region, under mu_
};

}  // namespace

int hardware_threads() {
  unsigned h = std::thread::hardware_concurrency();
  return h ? int(h) : 1;
}
int num_threads() { return Pool::get().threads(); }
void set_num_threads(int n) { Pool::get().set_threads(n); }
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  Pool::get().run(n, grain, fn);
}

}  // namespace tessera
