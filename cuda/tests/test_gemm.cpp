// Parity: cuda/gemm.cu against tessera::cpu::sgemm / sgemm_strided_batched
// (native/cpu/gemm.h) and the `matmul` op's backward (native/ops/matmul.cpp).
// Error measure: max over elements of |gpu - cpu| / (1 + |cpu|).
//   f32: 1e-5 (fp32 FMA in k order on both sides; blocking differs).
//   bf16 / f16: the CPU reference runs on the same rounded inputs, so only the fp32
//   accumulation order differs: 1e-4.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "core/op.h"
#include "core/tensor.h"
#include "cpu/gemm.h"
#include "gemm.h"
#include "tests/check.h"

using tessera::Tensor;

namespace {

std::vector<float> randv(int64_t n, uint64_t seed) {
  if (n == 0) return {};
  Tensor t = Tensor::randn({n}, seed);
  return std::vector<float>(t.f32(), t.f32() + n);
}

template <class T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) { cudaMalloc(reinterpret_cast<void**>(&p), count * sizeof(T) + 4); }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) {
    cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
};

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double m = a.size() == b.size() ? 0.0 : 1e30;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]) / (1.0 + std::fabs(double(b[i])));
    m = std::isnan(d) ? 1e30 : std::fmax(m, d);
  }
  return m;
}

double g_max_f32 = 0, g_max_half = 0, g_max_bwd = 0;

// Round to bf16 / f16: device storage (bits) and the rounded floats for the CPU.
template <class H>
void round_half(const std::vector<float>& x, std::vector<H>* bits, std::vector<float>* rounded);
template <>
void round_half<__nv_bfloat16>(const std::vector<float>& x, std::vector<__nv_bfloat16>* bits,
                               std::vector<float>* rounded) {
  bits->resize(x.size());
  rounded->resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const uint16_t h = tessera::f32_to_bf16(x[i]);
    std::memcpy(static_cast<void*>(&(*bits)[i]), &h, 2);
    (*rounded)[i] = tessera::bf16_to_f32(h);
  }
}
template <>
void round_half<__half>(const std::vector<float>& x, std::vector<__half>* bits, std::vector<float>* rounded) {
  bits->resize(x.size());
  rounded->resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const uint16_t h = tessera::f32_to_f16(x[i]);
    std::memcpy(static_cast<void*>(&(*bits)[i]), &h, 2);
    (*rounded)[i] = tessera::f16_to_f32(h);
  }
}

// One f32 GEMM (batch 1 or strided batched) against the CPU.
void check_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, bool with_bias,
               int64_t batch, bool share_b, uint64_t seed) {
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  const int64_t sa = M * K, sb = share_b ? 0 : K * N, sc = M * N;
  auto A = randv(sa * batch, seed), B = randv(share_b ? K * N : sb * batch, seed + 1);
  auto C0 = randv(sc * batch, seed + 2), bias = randv(with_bias ? N : 0, seed + 3);
  if (beta == 0.0f)
    for (auto& c : C0) c = std::numeric_limits<float>::quiet_NaN();  // must not be read
  std::vector<float> ref = C0;
  const float* bias_h = with_bias ? bias.data() : nullptr;
  if (batch == 1)
    tessera::cpu::sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, ref.data(), N, bias_h);
  else
    tessera::cpu::sgemm_strided_batched(ta, tb, M, N, K, alpha, A.data(), lda, sa, B.data(), ldb, sb, beta,
                                        ref.data(), N, sc, batch, bias_h);
  Dev<float> dA(A), dB(B), dC(C0), dbias(bias);
  const float* bias_d = with_bias ? dbias.p : nullptr;
  if (batch == 1)
    tessera::cuda::gemm_f32(ta, tb, M, N, K, alpha, dA.p, lda, dB.p, ldb, beta, dC.p, N, bias_d, 0);
  else
    tessera::cuda::gemm_f32_strided_batched(ta, tb, M, N, K, alpha, dA.p, lda, sa, dB.p, ldb, sb, beta, dC.p, N, sc,
                                            batch, bias_d, 0);
  const double err = max_rel(dC.get(), ref);
  g_max_f32 = std::fmax(g_max_f32, err);
  CHECK_NEAR(err, 0.0, 1e-5);
}

template <class H>
void check_half(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, bool with_bias,
                int64_t batch, uint64_t seed) {
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  const int64_t sa = M * K, sb = K * N, sc = M * N;
  std::vector<H> Ah, Bh;
  std::vector<float> A, B;
  round_half<H>(randv(sa * batch, seed), &Ah, &A);
  round_half<H>(randv(sb * batch, seed + 1), &Bh, &B);
  auto C0 = randv(sc * batch, seed + 2), bias = randv(with_bias ? N : 0, seed + 3);
  if (beta == 0.0f)
    for (auto& c : C0) c = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> ref = C0;
  const float* bias_h = with_bias ? bias.data() : nullptr;
  tessera::cpu::sgemm_strided_batched(ta, tb, M, N, K, alpha, A.data(), lda, sa, B.data(), ldb, sb, beta, ref.data(),
                                      N, sc, batch, bias_h);
  Dev<H> dA(Ah), dB(Bh);
  Dev<float> dC(C0), dbias(bias);
  const float* bias_d = with_bias ? dbias.p : nullptr;
  if constexpr (std::is_same<H, __nv_bfloat16>::value) {
    if (batch == 1)
      tessera::cuda::gemm_bf16(ta, tb, M, N, K, alpha, dA.p, lda, dB.p, ldb, beta, dC.p, N, bias_d, 0);
    else
      tessera::cuda::gemm_bf16_strided_batched(ta, tb, M, N, K, alpha, dA.p, lda, sa, dB.p, ldb, sb, beta, dC.p, N,
                                               sc, batch, bias_d, 0);
  } else {
    if (batch == 1)
      tessera::cuda::gemm_f16(ta, tb, M, N, K, alpha, dA.p, lda, dB.p, ldb, beta, dC.p, N, bias_d, 0);
    else
      tessera::cuda::gemm_f16_strided_batched(ta, tb, M, N, K, alpha, dA.p, lda, sa, dB.p, ldb, sb, beta, dC.p, N,
                                              sc, batch, bias_d, 0);
  }
  const double err = max_rel(dC.get(), ref);
  g_max_half = std::fmax(g_max_half, err);
  CHECK_NEAR(err, 0.0, 1e-4);
}

}  // namespace

TEST_CASE(gemm_f32_transposes_bias) {
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    check_f32(ta, tb, 37, 53, 71, 1.0f, 0.0f, true, 1, false, 100 + t);
    check_f32(ta, tb, 37, 53, 71, 1.5f, 0.5f, false, 1, false, 200 + t);
  }
}

TEST_CASE(gemm_f32_multi_block_edges) {
  check_f32(false, false, 130, 70, 33, 0.75f, -1.25f, true, 1, false, 300);  // 3 x 2 blocks, partial both ways
  check_f32(true, true, 65, 129, 17, 1.0f, 0.0f, true, 1, false, 301);
  check_f32(false, true, 5, 3, 1, 2.0f, 1.0f, true, 1, false, 302);          // tiny
  check_f32(true, false, 9, 7, 0, 1.0f, 0.5f, true, 1, false, 303);          // K == 0: beta * C + bias
}

TEST_CASE(gemm_f32_strided_batched) {
  check_f32(false, false, 37, 29, 23, 1.0f, 0.0f, true, 3, false, 400);
  check_f32(true, true, 19, 41, 13, 1.0f, 0.25f, false, 4, false, 401);
  check_f32(false, true, 23, 17, 31, 1.0f, 0.0f, true, 3, true, 402);  // B shared (stride 0)
}

TEST_CASE(gemm_bf16_wmma) {
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    check_half<__nv_bfloat16>(ta, tb, 48, 40, 56, 1.0f, 0.0f, true, 1, 500 + t);
  }
  check_half<__nv_bfloat16>(false, false, 70, 67, 37, 0.5f, 1.5f, true, 1, 510);  // 2 x 2 blocks, K edge
  check_half<__nv_bfloat16>(true, false, 21, 35, 45, 1.0f, 0.0f, false, 3, 520);  // batched
}

TEST_CASE(gemm_f16_wmma) {
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    check_half<__half>(ta, tb, 48, 40, 56, 1.0f, 0.5f, t % 2 == 0, 1, 600 + t);
  }
  check_half<__half>(false, true, 66, 70, 19, 1.0f, 0.0f, true, 2, 610);  // batched, 2 x 2 blocks
}

TEST_CASE(matmul_backward_vs_op) {
  const int64_t M = 37, N = 29, K = 43;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    Tensor a = Tensor::randn(ta ? tessera::Shape{K, M} : tessera::Shape{M, K}, 700 + t);
    Tensor b = Tensor::randn(tb ? tessera::Shape{N, K} : tessera::Shape{K, N}, 710 + t);
    Tensor bias = Tensor::randn({N}, 720 + t);
    Tensor g = Tensor::randn({M, N}, 730 + t);
    std::vector<Tensor> outs;
    auto grads = tessera::run_op_backward("matmul", {a, b, bias}, {{"transA", ta}, {"transB", tb}}, {g}, &outs);
    auto vec = [](const Tensor& x) { return std::vector<float>(x.f32(), x.f32() + x.numel()); };
    Dev<float> dA(vec(a)), dB(vec(b)), dG(vec(g)), dbias(vec(bias)), ga(M * K), gb(K * N), gbias(N), out(M * N);
    // forward through the op's own convention too: out = op(a) @ op(b) + bias
    tessera::cuda::gemm_f32(ta, tb, M, N, K, 1.0f, dA.p, ta ? M : K, dB.p, tb ? K : N, 0.0f, out.p, N, dbias.p, 0);
    tessera::cuda::matmul_backward(ta, tb, M, N, K, dA.p, dB.p, dG.p, ga.p, gb.p, gbias.p, 0);
    const double ef = max_rel(out.get(), vec(outs[0]));
    const double ea = max_rel(ga.get(), vec(grads[0]));
    const double eb = max_rel(gb.get(), vec(grads[1]));
    const double ebias = max_rel(gbias.get(), vec(grads[2]));
    g_max_f32 = std::fmax(g_max_f32, ef);
    g_max_bwd = std::fmax(g_max_bwd, std::fmax(ea, std::fmax(eb, ebias)));
    CHECK_NEAR(ef, 0.0, 1e-5);
    CHECK_NEAR(ea, 0.0, 1e-5);
    CHECK_NEAR(eb, 0.0, 1e-5);
    CHECK_NEAR(ebias, 0.0, 1e-6);  // same order (rows ascending, double accumulator)
  }
}

TEST_CASE(report_max_errors) {
  std::printf("  max rel err: f32 %.3g, bf16/f16 %.3g, backward %.3g\n", g_max_f32, g_max_half, g_max_bwd);
}

TEST_MAIN()
