// Developer microbenchmark: tessera::cpu::sgemm vs OpenBLAS cblas_sgemm.
//
// Build (from the repository root):
//   g++ -std=gnu++17 -O3 -fno-math-errno -fno-trapping-math -Inative native/core/{threadpool,cpu_features,error,tensor,cpu_allocator,dtype,philox}.cpp
//       native/cpu/gemm.cpp native/cpu/conv3d.cpp benchmarks/native/bench_gemm.cpp -o /tmp/bench_gemm -pthread -lopenblas
// Run:
//   OPENBLAS_NUM_THREADS=1 TESSERA_THREADS=2 /tmp/bench_gemm ours   (OpenBLAS starts its own spinning
//                                   threads when the library loads; keep them out of our runs)
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 /tmp/bench_gemm openblas
//       (OpenBLAS 0.3.21 does not know this Xeon (family 6 model 207) and falls back to its
//       Prescott kernels, several times slower; compare also against its AVX-512 kernels:
//        env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=SKYLAKEX OPENBLAS_NUM_THREADS=2 /tmp/bench_gemm openblas)
//   /tmp/bench_gemm check          (max relative difference between the two)
//   OPENBLAS_NUM_THREADS=1 TESSERA_THREADS=2 /tmp/bench_gemm conv   (conv3d forward, x 1x128x8x64x64, w 128x128x3x3x3,
//                                             padding 1, plain and causal; compare with
//                                             torch.nn.functional.conv3d, torch.set_num_threads(2))
// Each library runs in its own process so one's spinning worker threads do not
// steal cores from the other. Shapes: the DiT linear layers (M = 1024 tokens),
// as A @ B and as A @ B^T (nn.Linear weight layout [N, K]).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/threadpool.h"
#include "cpu/conv3d.h"
#include "cpu/gemm.h"

namespace {

struct Shape {
  int64_t M, K, N;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void fill(std::vector<float>& v, unsigned seed) {
  unsigned s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = float(int(s >> 9) % 2001 - 1000) / 1000.0f;
  }
}

void run_gemm(bool ours, bool trans_b, const Shape& s, const float* A, const float* B, float* C) {
  const int64_t ldb = trans_b ? s.K : s.N;
  if (ours) {
    tessera::cpu::sgemm(false, trans_b, s.M, s.N, s.K, 1.0f, A, s.K, B, ldb, 0.0f, C, s.N);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(s.M), int(s.N), int(s.K), 1.0f,
                A, int(s.K), B, int(ldb), 0.0f, C, int(s.N));
  }
}

void bench_conv() {
  tessera::cpu::Conv3dShape s;
  s.N = 1, s.Cin = 128, s.D = 8, s.H = 64, s.W = 64;
  s.Cout = 128, s.kD = s.kH = s.kW = 3;
  s.pH = s.pW = 1;
  std::vector<float> x(size_t(s.N * s.Cin * s.D * s.H * s.W)), w(size_t(s.Cout * s.Cin * 27)), bias(size_t(s.Cout));
  fill(x, 3);
  fill(w, 4);
  fill(bias, 5);
  // Both variants are timed in turns (best of 3 rounds x 5 runs each), after a
  // warm-up of each: the first call in a process pays for page faults and the
  // growth of the packing buffers.
  double best[2] = {1e30, 1e30};
  double flops[2] = {0, 0};
  for (int round = -1; round < 3; ++round) {
    for (int causal = 0; causal < 2; ++causal) {
      s.pF = causal ? 2 : 1;
      s.pB = causal ? 0 : 1;
      tessera::cpu::conv3d_output_size(s);
      std::vector<float> y(size_t(s.N * s.Cout * s.Do * s.Ho * s.Wo));
      flops[causal] = 2.0 * double(y.size()) * double(s.Cin * 27);
      for (int trial = 0; trial < (round < 0 ? 1 : 5); ++trial) {
        double t0 = now_s();
        tessera::cpu::conv3d_forward(x.data(), w.data(), bias.data(), y.data(), s);
        if (round >= 0) best[causal] = std::min(best[causal], now_s() - t0);
      }
    }
  }
  for (int causal = 0; causal < 2; ++causal)
    std::printf("conv3d forward %s x 1x128x8x64x64 w 128x128x3x3x3  %8.1f GFLOP/s  (%.2f ms)\n",
                causal ? "causal " : "pad 1  ", flops[causal] / best[causal] * 1e-9, best[causal] * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "ours";
  if (mode == "conv") {
    bench_conv();
    return 0;
  }
  const std::vector<Shape> shapes = {{1024, 384, 384}, {1024, 384, 1536}, {1024, 1536, 384}, {1024, 1024, 1024}};
  // Optional: argv[2] = shape index, argv[3] = "nn" or "nt" to run one case.
  const int only_shape = argc > 2 ? std::atoi(argv[2]) : -1;
  const int only_tb = argc > 3 ? (std::string(argv[3]) == "nt" ? 1 : 0) : -1;
  for (size_t si = 0; si < shapes.size(); ++si) {
    const Shape& s = shapes[si];
    if (only_shape >= 0 && int(si) != only_shape) continue;
    for (int tb = 0; tb < 2; ++tb) {
      if (only_tb >= 0 && tb != only_tb) continue;
      std::vector<float> A(size_t(s.M * s.K)), B(size_t(s.K * s.N)), C(size_t(s.M * s.N)), C2(C.size());
      fill(A, 1);
      fill(B, 2);
      const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
      if (mode == "check") {
        run_gemm(true, tb, s, A.data(), B.data(), C.data());
        run_gemm(false, tb, s, A.data(), B.data(), C2.data());
        double maxrel = 0, maxref = 0;
        for (size_t i = 0; i < C.size(); ++i) maxref = std::max(maxref, double(std::fabs(C2[i])));
        for (size_t i = 0; i < C.size(); ++i) maxrel = std::max(maxrel, std::fabs(double(C[i]) - C2[i]) / maxref);
        std::printf("M=%lld K=%lld N=%lld %s  max |diff| / max |ref| = %.3g\n", (long long)s.M, (long long)s.K,
                    (long long)s.N, tb ? "A@B^T" : "A@B  ", maxrel);
        continue;
      }
      const bool ours = mode == "ours";
      for (int w = 0; w < 3; ++w) run_gemm(ours, tb, s, A.data(), B.data(), C.data());
      // Best of several timed batches (the machine is shared).
      const int reps = std::max(1, int(3e8 / flops));
      double best = 1e30;
      for (int trial = 0; trial < 40; ++trial) {
        double t0 = now_s();
        for (int r = 0; r < reps; ++r) run_gemm(ours, tb, s, A.data(), B.data(), C.data());
        best = std::min(best, (now_s() - t0) / reps);
      }
      std::printf("%-8s M=%lld K=%lld N=%lld %s  %8.1f GFLOP/s  (%.3f ms)\n", mode.c_str(), (long long)s.M,
                  (long long)s.K, (long long)s.N, tb ? "A@B^T" : "A@B  ", flops / best * 1e-9, best * 1e3);
    }
  }
  return 0;
}
