// cuda/emu/tests/test_emu.cpp — driver for the emulator's own tests (emulator only;
// nvcc never sees this file). Usage:
//   test_emu good            run every correct kernel against a CPU reference and the
//                            error-detection checks that must throw KernelError; exit 1
//                            on any failure. Schedule from TESSERA_EMU_ORDER/SEED.
//   test_emu plant NAME      run one planted bug once: prints "RESULT OK" (exit 0) or
//                            "RESULT WRONG" (exit 10); sanitizer reports / faults are
//                            judged by cuda/emu/run-tests.sh.
//                            NAME: missing-sync plus-equals oob-global oob-shared stack-overflow
//   test_emu orders NAME     run a planted bug under inorder, reverse and 8 random seeds
//                            in-process; exit 0 if at least one schedule gave a wrong result.
//   test_emu bench           fiber switch cost and a 256-thread barrier loop.
#include "../emu.h"
#include "test_kernels.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

// A barrier-bound kernel for the benchmark (emulator-only file, so plain CUDA syntax is fine).
__global__ void barrier_loop_kernel(float* out, int iters) {
  float v = (float)threadIdx.x;
  for (int i = 0; i < iters; ++i) {
    v = v * 0.5f + 1.0f;
    __syncthreads();
  }
  out[threadIdx.x] = v;
}
void barrier_loop(float* out, int iters) { TESSERA_LAUNCH(barrier_loop_kernel, 1, 256, 0, 0)(out, iters); }

namespace {

int g_failures = 0;

void check(bool ok, const std::string& name, const std::string& detail = "") {
  printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  if (!ok) ++g_failures;
}

bool close(double a, double b, double tol) { return std::fabs(a - b) <= tol * (1.0 + std::fabs(b)); }

std::vector<float> randf(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

template <class F>
bool throws_kernel_error(F f, const std::vector<std::string>& must_contain, std::string* msg) {
  try {
    f();
  } catch (const tessera_emu::KernelError& e) {
    *msg = e.what();
    for (auto& s : must_contain)
      if (msg->find(s) == std::string::npos) return false;
    return true;
  }
  *msg = "no KernelError";
  return false;
}

void test_block_sum() {
  for (int threads : {64, 256, 1024}) {
    const int n = 5000;
    auto in = randf(n, 1);
    std::vector<float> out((n + threads - 1) / threads, -1.0f);
    block_sum_shfl(in.data(), out.data(), n, threads);
    bool ok = true;
    for (size_t b = 0; b < out.size(); ++b) {
      double ref = 0;
      for (int i = b * threads; i < std::min(n, (int)(b + 1) * threads); ++i) ref += in[i];
      ok &= close(out[b], ref, 1e-4);
    }
    check(ok, "block_sum_shfl threads=" + std::to_string(threads));
  }
}

void test_warp_scan() {
  const int n = 1000;
  std::vector<int> in(n), out(n, 0);
  for (int i = 0; i < n; ++i) in[i] = (i * 7) % 13 - 6;
  warp_scan(in.data(), out.data(), n);
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    int ref = 0;
    for (int j = i - (i % 32); j <= i; ++j) ref += in[j];
    ok &= out[i] == ref;
  }
  check(ok, "warp_scan (__shfl_up_sync)");
}

void test_bcast_xor() {
  const int n = 200;
  auto in = randf(n, 2);
  std::vector<float> out(n);
  warp_broadcast_xor(in.data(), out.data(), n);
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    int w0 = i - i % 32, g0 = i - i % 8;
    float m = -1e30f;
    for (int j = w0; j < w0 + 32; ++j) m = std::max(m, j < n ? in[j] : -1e30f);
    ok &= close(out[i], in[g0] + m, 1e-6);
  }
  check(ok, "warp_broadcast_xor (__shfl_sync width 8, __shfl_xor_sync)");
}

void test_matmul() {
  const int m = 37, n = 45, k = 53;
  auto a = randf(m * k, 3), b = randf(k * n, 4);
  std::vector<float> c(m * n);
  matmul_tiled(a.data(), b.data(), c.data(), m, n, k);
  bool ok = true;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0;
      for (int t = 0; t < k; ++t) ref += (double)a[i * k + t] * b[t * n + j];
      ok &= close(c[i * n + j], ref, 1e-4);
    }
  check(ok, "matmul_tiled 37x45x53");
}

template <class T, class Conv, class Back>
void test_wmma(const char* name, Conv conv, Back back, void (*gemm)(const T*, const T*, float*, int, int, int)) {
  const int m = 32, n = 48, k = 64;
  auto af = randf(m * k, 5), bf = randf(k * n, 6);
  std::vector<T> a(m * k), b(k * n);
  for (int i = 0; i < m * k; ++i) a[i] = conv(af[i]);
  for (int i = 0; i < k * n; ++i) b[i] = conv(bf[i]);
  std::vector<float> c(m * n, -7.0f);
  gemm(a.data(), b.data(), c.data(), m, n, k);
  bool ok = true;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0;
      for (int t = 0; t < k; ++t) ref += (double)back(a[i * k + t]) * back(b[t * n + j]);
      ok &= close(c[i * n + j], ref, 1e-4);
    }
  check(ok, name);
}

void test_votes() {
  const int n = 300;
  std::vector<int> in(n);
  for (int i = 0; i < n; ++i) in[i] = (i % 3 == 0) ? 1 : (i >= 64 && i < 96 ? 1 : 0);
  const int warps = (n + 31) / 32 + 3, blocks = (n + 127) / 128;
  std::vector<unsigned> ballot(warps);
  std::vector<int> all(warps), any(warps), count(blocks);
  votes(in.data(), ballot.data(), all.data(), any.data(), count.data(), n);
  bool ok = true;
  for (int w = 0; w < (n + 31) / 32; ++w) {
    unsigned b = 0;
    for (int l = 0; l < 32; ++l)
      if (w * 32 + l < n && in[w * 32 + l] > 0) b |= 1u << l;
    ok &= ballot[w] == b && all[w] == (b == 0xffffffffu) && any[w] == (b != 0);
  }
  for (int bl = 0; bl < blocks; ++bl) {
    int c = 0;
    for (int i = bl * 128; i < std::min(n, bl * 128 + 128); ++i) c += in[i] > 0;
    ok &= count[bl] == c;
  }
  check(ok, "votes (__ballot_sync, __all_sync, __any_sync, __syncthreads_count)");
}

void test_reverse() {
  const int n = 1000, threads = 128;
  auto in = randf(n, 7);
  std::vector<float> out(n, 0.0f);
  reverse_dynamic_smem(in.data(), out.data(), n, threads);
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    int blk = i / threads, t = i % threads, src = blk * threads + (threads - 1 - t);
    ok &= out[i] == (src < n ? in[src] : 0.0f);
  }
  check(ok, "reverse_dynamic_smem (TESSERA_DYNAMIC_SHARED)");
}

void test_histogram() {
  const int n = 5000, bins = 37;
  std::vector<int> in(n);
  for (int i = 0; i < n; ++i) in[i] = (i * 2654435761u) >> 7 & 0xffff;
  std::vector<unsigned> hist(bins, 0), ref(bins, 0);
  for (int v : in) ref[v % bins]++;
  histogram_atomic(in.data(), hist.data(), n, bins);
  check(hist == ref, "histogram_atomic (shared + global atomicAdd)");
}

void test_partial_warp() {
  for (int threads : {20, 48, 100}) {
    auto in = randf(threads, 8);
    float out = 0.0f;
    partial_warp_sum(in.data(), &out, threads);
    double ref = 0;
    for (float v : in) ref += v;
    check(close(out, ref, 1e-5), "partial_warp_sum threads=" + std::to_string(threads));
  }
}

void test_constant() {
  const int n = 300;
  auto in = randf(n, 10);
  std::vector<float> out(n);
  affine_constant(in.data(), out.data(), n, 2.5f, -1.0f);
  bool ok = true;
  for (int i = 0; i < n; ++i) ok &= close(out[i], fmaf(in[i], 2.5f, -1.0f), 1e-6);
  check(ok, "affine_constant (__constant__, cudaMemcpyToSymbol)");
}

void test_detectors() {
  std::vector<float> buf(64);
  std::string msg;
  bool ok = throws_kernel_error([&] { bug_barrier_after_exit(buf.data()); },
                                {"deadlock", "barrier_after_exit_kernel", "block (0,0,0)", "threads 0-31: waiting at __syncthreads",
                                 "threads 32-63: exited"},
                                &msg);
  check(ok, "detects barrier after early exit", ok ? "" : msg);
  if (ok && getenv("TESSERA_EMU_SHOW")) printf("%s", msg.c_str());
  ok = throws_kernel_error([&] { bug_shfl_exited_lane(buf.data()); }, {"__shfl_down_sync", "exited", "shfl_exited_lane_kernel"}, &msg);
  check(ok, "detects shuffle naming an exited lane", ok ? "" : msg);
  ok = throws_kernel_error([&] { bug_mixed_collectives(buf.data()); },
                           {"mixed_collectives_kernel", "different warp collectives"}, &msg);
  if (!ok) ok = throws_kernel_error([&] { bug_mixed_collectives(buf.data()); }, {"deadlock"}, &msg);
  check(ok, "detects lanes at different warp collectives", ok ? "" : msg);
  // The emulator stays usable after a failed launch.
  test_block_sum();
}

int run_good() {
  auto s = tessera_emu::schedule();
  printf("schedule: TESSERA_EMU_ORDER=%s TESSERA_EMU_SEED=%llu\n", tessera_emu::order_name(s.order), s.seed);
  test_block_sum();
  test_warp_scan();
  test_bcast_xor();
  test_matmul();
  test_wmma<__half>("wmma_gemm_half 32x48x64", [](float f) { return __float2half_rn(f); },
                    [](__half h) { return __half2float(h); }, wmma_gemm_half);
  test_wmma<__nv_bfloat16>("wmma_gemm_bf16 32x48x64", [](float f) { return __float2bfloat16_rn(f); },
                           [](__nv_bfloat16 h) { return __bfloat162float(h); }, wmma_gemm_bf16);
  test_votes();
  test_reverse();
  test_histogram();
  test_partial_warp();
  test_constant();
  test_detectors();
  printf("%s: %d failure(s)\n", g_failures ? "FAILED" : "OK", g_failures);
  return g_failures ? 1 : 0;
}

// Returns true when the planted bug produced a wrong result this time.
bool plant_wrong(const std::string& name) {
  if (name == "missing-sync") {
    const int n = 1024;
    auto in = randf(n, 9);
    std::vector<float> out(n / 256);
    bug_reduce_missing_sync(in.data(), out.data(), n);
    bool ok = true;
    for (int b = 0; b < n / 256; ++b) {
      double ref = 0;
      for (int i = b * 256; i < b * 256 + 256; ++i) ref += in[i];
      ok &= close(out[b], ref, 1e-4);
    }
    return !ok;
  }
  if (name == "plus-equals") {
    const int n = 5000, bins = 37;
    std::vector<int> in(n);
    for (int i = 0; i < n; ++i) in[i] = (i * 2654435761u) >> 7 & 0xffff;
    std::vector<unsigned> hist(bins, 0), ref(bins, 0);
    for (int v : in) ref[v % bins]++;
    bug_histogram_plus_equals(in.data(), hist.data(), n, bins);
    return hist != ref;
  }
  if (name == "oob-global") {
    const int n = 100;
    float* out = static_cast<float*>(malloc(n * sizeof(float)));  // exactly n: out[n] is outside
    bug_oob_global_store(out, n);
    bool ok = true;
    for (int i = 0; i < n; ++i) ok &= out[i] == 1.0f;
    free(out);
    return !ok;
  }
  if (name == "oob-shared") {
    std::vector<float> out(64);
    bug_oob_shared_store(out.data());
    bool ok = true;  // buf[0] was never written: poison (NaN) shows through
    for (int i = 0; i < 64; ++i) ok &= out[i] == (i == 0 ? out[i] : (float)(i - 1));
    return !ok || !std::isnan(out[0]);
  }
  if (name == "stack-overflow") {
    std::vector<float> out(32);
    bug_stack_overflow(out.data());
    return true;  // not reached: the guard page faults first
  }
  fprintf(stderr, "unknown planted bug '%s'\n", name.c_str());
  exit(2);
}

int run_bench() {
  const long trips = 2000000;
  double ns = tessera_emu::measure_switch_ns(trips);
  printf("fiber switch: %.1f ns (%.1f M switches/s)\n", ns, 1e3 / ns);
  const int iters = 2000;
  std::vector<float> out(256);
  barrier_loop(out.data(), 10);  // warm up (stacks, pool)
  auto t0 = std::chrono::steady_clock::now();
  barrier_loop(out.data(), iters);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("256-thread block, __syncthreads loop: %.0f barriers/s (%.1f us per barrier, %.1f ns per thread-switch)\n",
         iters / s, 1e6 * s / iters, 1e9 * s / (iters * 256.0));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "good";
  if (cmd == "good") return run_good();
  if (cmd == "bench") return run_bench();
  if (cmd == "plant" && argc > 2) {
    bool wrong = plant_wrong(argv[2]);
    printf("RESULT %s (%s, order=%s)\n", wrong ? "WRONG" : "OK", argv[2],
           tessera_emu::order_name(tessera_emu::schedule().order));
    return wrong ? 10 : 0;
  }
  if (cmd == "orders" && argc > 2) {
    int wrong = 0, runs = 0;
    std::vector<tessera_emu::Schedule> scheds = {{tessera_emu::Order::InOrder, 1}, {tessera_emu::Order::Reverse, 1}};
    for (unsigned long long s = 1; s <= 8; ++s) scheds.push_back({tessera_emu::Order::Random, s});
    for (auto sc : scheds) {
      tessera_emu::set_schedule(sc);
      bool w = plant_wrong(argv[2]);
      printf("  %-8s seed=%llu: %s\n", tessera_emu::order_name(sc.order), sc.seed, w ? "WRONG" : "ok");
      wrong += w;
      ++runs;
    }
    printf("%s: wrong under %d of %d schedules\n", argv[2], wrong, runs);
    return wrong ? 0 : 1;
  }
  fprintf(stderr, "usage: test_emu good | bench | plant NAME | orders NAME\n");
  return 2;
}
