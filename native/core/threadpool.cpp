#include "core/threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
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
class Pool {
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
    int64_t max_chunks = (n + grain - 1) / grain;
    int64_t chunks = std::min<int64_t>(max_chunks, int64_t(t) * 4);
    int64_t chunk = (n + chunks - 1) / chunks;
    chunks = (n + chunk - 1) / chunk;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_fn_ = &fn;
      job_n_ = n;
      job_chunk_ = chunk;
      job_chunks_ = chunks;
      next_.store(0);
      done_.store(0);
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return done_.load() == job_chunks_; });
    job_fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
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

  void work() {
    bool was = tl_in_worker;
    tl_in_worker = true;
    for (;;) {
      int64_t c = next_.fetch_add(1);
      if (c >= job_chunks_) break;
      int64_t b = c * job_chunk_, e = std::min(job_n_, b + job_chunk_);
      try {
        (*job_fn_)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
      if (done_.fetch_add(1) + 1 == job_chunks_) {
        std::lock_guard<std::mutex> lk(mu_);
        done_cv_.notify_all();
      }
    }
    tl_in_worker = was;
  }

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || (generation_ != seen && job_fn_ != nullptr); });
        if (stop_) return;
        seen = generation_;
      }
      work();
    }
  }

  std::mutex config_mu_, run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  int threads_ = 1;
  bool stop_ = false;
  uint64_t generation_ = 0;
  const std::function<void(int64_t, int64_t)>* job_fn_ = nullptr;
  int64_t job_n_ = 0, job_chunk_ = 1, job_chunks_ = 0;
  std::atomic<int64_t> next_{0}, done_{0};
  std::exception_ptr error_;
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
