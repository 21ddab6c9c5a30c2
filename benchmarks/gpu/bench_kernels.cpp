// benchmarks/gpu/bench_kernels — times tessera's CUDA kernels on the device
// (CUDA events, warm-up first, median of many runs) and prints one JSON line per
// kernel and shape: {"kernel", "shape", "ms", "flops", "bytes", plus the
// arguments compare.py needs to time the vendor library on the same problem}.
// Built by CMake with TESSERA_CUDA=ON (target gpu_checks) and run by
// benchmarks/gpu/run.sh; compare.py reads the lines and adds the vendor column.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "attention.h"
#include "conv3d.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "elementwise.h"
#include "gemm.h"
#include "norm.h"
#include "softmax.h"

namespace {

#define CK(call)                                                                              \
  do {                                                                                        \
    cudaError_t e_ = (call);                                                                  \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(2);                                                                           \
    }                                                                                         \
  } while (0)

int g_reps = 50;

// Device buffer of n elements filled with N(0, 1) * scale (Philox on the host).
template <class T>
T* device_random(int64_t n, uint64_t seed, float scale = 1.0f) {
  tessera::Tensor t = tessera::Tensor::randn({n}, seed);
  std::vector<T> h(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float v = t.f32()[i] * scale;
    if constexpr (std::is_same_v<T, float>) h[size_t(i)] = v;
    else {
      __nv_bfloat16_raw raw;
      raw.x = tessera::f32_to_bf16(v);  // the CPU's round-to-nearest-even, as the parity tests use
      h[size_t(i)] = __nv_bfloat16(raw);
    }
  }
  T* d = nullptr;
  CK(cudaMalloc(&d, size_t(n) * sizeof(T)));
  CK(cudaMemcpy(d, h.data(), size_t(n) * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

// Median milliseconds of `reps` runs of fn, each bracketed by events, after 5 warm-ups.
double time_ms(const std::function<void()>& fn) {
  for (int i = 0; i < 5; ++i) fn();
  CK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<double> t;
  for (int i = 0; i < g_reps; ++i) {
    CK(cudaEventRecord(a));
    fn();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void emit(const char* kernel, const std::string& shape, const std::string& args, double ms, double flops,
          double bytes) {
  std::printf("{\"kernel\": \"%s\", \"shape\": \"%s\", %s, \"ms\": %.5f, \"flops\": %.6g, \"bytes\": %.6g}\n", kernel,
              shape.c_str(), args.c_str(), ms, flops, bytes);
  std::fflush(stdout);
}

std::string dims(std::initializer_list<int64_t> v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

// ---- GEMM: the DiT's linear layers (tokens x hidden), C = A @ W^T ----
void bench_gemm(int64_t M, int64_t N, int64_t K) {
  const std::string args = "\"M\": " + std::to_string(M) + ", \"N\": " + std::to_string(N) + ", \"K\": " +
                           std::to_string(K);
  float* C = nullptr;
  CK(cudaMalloc(&C, size_t(M * N) * 4));
  {
    auto* A = device_random<__nv_bfloat16>(M * K, 1);
    auto* W = device_random<__nv_bfloat16>(N * K, 2);
    const double ms = time_ms([&] {
      tessera::cuda::gemm_bf16(false, true, M, N, K, 1.0f, A, K, W, K, 0.0f, C, N, nullptr, nullptr);
    });
    emit("gemm_bf16", dims({M, N, K}), args, ms, 2.0 * M * N * K, 2.0 * (M * K + N * K) + 4.0 * M * N);
    CK(cudaFree(A));
    CK(cudaFree(W));
  }
  {
    auto* A = device_random<float>(M * K, 1);
    auto* W = device_random<float>(N * K, 2);
    const double ms = time_ms([&] {
      tessera::cuda::gemm_f32(false, true, M, N, K, 1.0f, A, K, W, K, 0.0f, C, N, nullptr, nullptr);
    });
    emit("gemm_f32", dims({M, N, K}), args, ms, 2.0 * M * N * K, 4.0 * (M * K + N * K + M * N));
    CK(cudaFree(A));
    CK(cudaFree(W));
  }
  CK(cudaFree(C));
}

// ---- flash attention forward: [B, H, N, Dh] ----
void bench_attention(int64_t B, int64_t H, int64_t N, int64_t Dh) {
  const std::string args = "\"B\": " + std::to_string(B) + ", \"H\": " + std::to_string(H) + ", \"N\": " +
                           std::to_string(N) + ", \"Dh\": " + std::to_string(Dh);
  const int64_t n = B * H * N * Dh;
  tessera::cuda::AttentionShape s;
  s.batch = B;
  s.heads = H;
  s.head_dim = Dh;
  s.nq = s.nk = N;
  s.scale = 1.0f / std::sqrt(float(Dh));
  float *o = nullptr, *lse = nullptr;
  CK(cudaMalloc(&o, size_t(n) * 4));
  CK(cudaMalloc(&lse, size_t(B * H * N) * 4));
  const double flops = 4.0 * B * H * double(N) * N * Dh;  // QK^T and PV
  {
    auto* q = device_random<__nv_bfloat16>(n, 3);
    auto* k = device_random<__nv_bfloat16>(n, 4);
    auto* v = device_random<__nv_bfloat16>(n, 5);
    const double ms = time_ms([&] { tessera::cuda::attention_forward_bf16(s, q, k, v, o, lse, nullptr); });
    emit("attention_fwd_bf16", dims({B, H, N, Dh}), args, ms, flops, 2.0 * 3 * n + 4.0 * n);
    CK(cudaFree(q));
    CK(cudaFree(k));
    CK(cudaFree(v));
  }
  {
    auto* q = device_random<float>(n, 3);
    auto* k = device_random<float>(n, 4);
    auto* v = device_random<float>(n, 5);
    const double ms = time_ms([&] { tessera::cuda::attention_forward(s, q, k, v, o, lse, nullptr); });
    emit("attention_fwd_f32", dims({B, H, N, Dh}), args, ms, flops, 4.0 * 4 * n);
    CK(cudaFree(q));
    CK(cudaFree(k));
    CK(cudaFree(v));
  }
  CK(cudaFree(o));
  CK(cudaFree(lse));
}

// ---- conv3d forward, 3x3x3 same padding (the VAE's ResNet convolutions) ----
void bench_conv3d(int64_t N, int64_t C, int64_t D, int64_t H, int64_t W) {
  const std::string args = "\"N\": " + std::to_string(N) + ", \"C\": " + std::to_string(C) + ", \"D\": " +
                           std::to_string(D) + ", \"H\": " + std::to_string(H) + ", \"W\": " + std::to_string(W);
  tessera::cpu::Conv3dShape s;
  s.N = N;
  s.Cin = s.Cout = C;
  s.D = D;
  s.H = H;
  s.W = W;
  s.kD = s.kH = s.kW = 3;
  s.pF = s.pB = s.pH = s.pW = 1;
  tessera::cpu::conv3d_output_size(s);
  const int64_t nx = N * C * D * H * W, nw = C * C * 27, ny = N * C * s.Do * s.Ho * s.Wo;
  float* y = nullptr;
  CK(cudaMalloc(&y, size_t(ny) * 4));
  const double flops = 2.0 * double(ny) * C * 27;
  {
    auto* x = device_random<__nv_bfloat16>(nx, 6);
    auto* w = device_random<__nv_bfloat16>(nw, 7, 0.05f);
    const double ms = time_ms([&] { tessera::cuda::conv3d_forward_bf16(x, w, nullptr, y, s, nullptr); });
    emit("conv3d_fwd_bf16", dims({N, C, D, H, W}), args, ms, flops, 2.0 * (nx + nw) + 4.0 * ny);
    CK(cudaFree(x));
    CK(cudaFree(w));
  }
  {
    auto* x = device_random<float>(nx, 6);
    auto* w = device_random<float>(nw, 7, 0.05f);
    const double ms = time_ms([&] { tessera::cuda::conv3d_forward(x, w, nullptr, y, s, nullptr); });
    emit("conv3d_fwd_f32", dims({N, C, D, H, W}), args, ms, flops, 4.0 * (nx + nw + ny));
    CK(cudaFree(x));
    CK(cudaFree(w));
  }
  CK(cudaFree(y));
}

// ---- memory-bound kernels: GB/s against PyTorch's ----
void bench_rows(int64_t rows, int64_t C) {
  const std::string args = "\"rows\": " + std::to_string(rows) + ", \"C\": " + std::to_string(C);
  const int64_t n = rows * C;
  float* x = device_random<float>(n, 8);
  float* w = device_random<float>(C, 9);
  float* b = device_random<float>(C, 10);
  float *y, *mean, *rstd;
  CK(cudaMalloc(&y, size_t(n) * 4));
  CK(cudaMalloc(&mean, size_t(rows) * 4));
  CK(cudaMalloc(&rstd, size_t(rows) * 4));
  double ms = time_ms([&] { tessera::cuda::softmax_forward(x, y, rows, C, nullptr); });
  emit("softmax_fwd", dims({rows, C}), args, ms, 0, 8.0 * n);
  ms = time_ms([&] { tessera::cuda::layer_norm_forward(x, w, b, y, mean, rstd, rows, C, 1e-5f, nullptr); });
  emit("layer_norm_fwd", dims({rows, C}), args, ms, 0, 8.0 * n);
  ms = time_ms([&] { tessera::cuda::silu_forward(x, y, n, nullptr); });
  emit("silu_fwd", dims({rows, C}), args, ms, 0, 8.0 * n);
  for (float* p : {x, w, b, y, mean, rstd}) CK(cudaFree(p));
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (quick) g_reps = 10;
  int dev = 0;
  cudaDeviceProp p;
  CK(cudaGetDevice(&dev));
  CK(cudaGetDeviceProperties(&p, dev));
  std::fprintf(stderr, "bench_kernels on %s (sm_%d%d, %d SMs)\n", p.name, p.major, p.minor, p.multiProcessorCount);
  // DiT linear layers at 4096 tokens: qkv / proj (1152 -> 3456, 1152 -> 1152) and the MLP (1152 <-> 4608).
  bench_gemm(4096, 3456, 1152);
  bench_gemm(4096, 1152, 1152);
  bench_gemm(4096, 4608, 1152);
  bench_gemm(4096, 1152, 4608);
  // Self-attention over 4096 spacetime tokens, 16 heads of 64 (and 72, the DiT-XL head size).
  bench_attention(2, 16, 4096, 64);
  bench_attention(1, 16, 4096, 72);
  // VAE ResNet convolutions: 128 channels at 9x64x64, 256 channels at 5x32x32.
  bench_conv3d(1, 128, 9, 64, 64);
  bench_conv3d(1, 256, 5, 32, 32);
  bench_rows(4096 * 2, 1152);
  return 0;
}
