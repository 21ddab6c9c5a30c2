// Developer microbenchmark: tessera::cpu::attention_forward / attention_backward
// (flash-style, O(N) memory) on the acceptance shape B = 1, H = 6, Dh = 64.
//
// Build (from the repository root):
//   g++ -std=gnu++17 -O3 -fno-math-errno -fno-trapping-math -Inative native/core/{threadpool,cpu_features,error}.cpp
//       native/cpu/attention.cpp benchmarks/native/bench_attention.cpp -o /tmp/bench_attention -pthread
// Run:
//   TESSERA_THREADS=2 /tmp/bench_attention [N ...]      (default N = 1024 4096)
// Compare with PyTorch (torch.set_num_threads(2)):
//   torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/cpu_features.h"
#include "core/threadpool.h"
#include "cpu/attention.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void fill(std::vector<float>& v, unsigned seed) {
  unsigned s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = float(int(s >> 9) % 2001 - 1000) / 500.0f;
  }
}

template <class F>
double best_of(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    f();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {1024, 4096};
  const int64_t B = 1, H = 6, Dh = 64;
  std::printf("attention B=%lld H=%lld Dh=%lld, %d threads, isa %s\n", (long long)B, (long long)H, (long long)Dh,
              tessera::num_threads(), tessera::isa_name(tessera::cpu_isa()));
  for (int64_t N : sizes) {
    const size_t n = size_t(B * H * N * Dh);
    std::vector<float> q(n), k(n), v(n), o(n), g(n), dq(n), dk(n), dv(n), lse(size_t(B * H * N));
    fill(q, 1);
    fill(k, 2);
    fill(v, 3);
    fill(g, 4);
    tessera::cpu::AttentionShape s;
    s.batch = B;
    s.heads = H;
    s.head_dim = Dh;
    s.nq = s.nk = N;
    s.scale = float(1.0 / std::sqrt(double(Dh)));
    const int reps = N >= 4096 ? 3 : 5;
    const double fwd = best_of(reps, [&] {
      tessera::cpu::attention_forward(s, q.data(), k.data(), v.data(), o.data(), lse.data());
    });
    const double bwd = best_of(reps, [&] {
      tessera::cpu::attention_backward(s, q.data(), k.data(), v.data(), o.data(), lse.data(), g.data(), dq.data(),
                                       dk.data(), dv.data());
    });
    const double flops = 4.0 * double(B * H) * double(N) * double(N) * double(Dh);
    std::printf("N=%6lld  forward %8.2f ms (%6.1f GFLOP/s)  backward %8.2f ms (%6.1f GFLOP/s)\n", (long long)N,
                fwd * 1e3, flops / fwd * 1e-9, bwd * 1e3, 2.5 * flops / bwd * 1e-9);
  }
  return 0;
}
