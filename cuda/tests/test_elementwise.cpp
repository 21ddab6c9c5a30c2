// Parity: cuda/elementwise.cu against native/cpu/activation (SiLU, GELU, exp,
// clamp) and a double-precision reference computed here (exp, modulate, gate).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "cpu/activation.h"
#include "elementwise.h"
#include "parity.h"
#include "tests/check.h"

using tessera::Tensor;
using tessera_parity::Dev;
using tessera_parity::randv;

namespace {

// max |a - b| / (atol_scale + |b|)
double max_rel(const std::vector<float>& a, const std::vector<float>& b, double floor_ = 1.0) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(double(a[i]) - b[i]) / (floor_ + std::fabs(b[i])));
  return m;
}
double max_rel(const std::vector<float>& a, const std::vector<double>& b, double floor_ = 1.0) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(double(a[i]) - b[i]) / (floor_ + std::fabs(b[i])));
  return m;
}

const int64_t kSizes[] = {1, 31, 1000, 4099};

}  // namespace

TEST_CASE(silu_fwd_bwd) {
  for (int64_t n : kSizes) {
    auto x = randv(n, 11 + n, 3.0f), gy = randv(n, 12 + n);
    std::vector<float> y(n), gx(n);
    tessera::cpu::silu_forward(x.data(), y.data(), n);
    tessera::cpu::silu_backward(x.data(), gy.data(), gx.data(), n);
    Dev dx(x), dgy(gy), dy(n), dgx(n);
    tessera::cuda::silu_forward(dx.p, dy.p, n, 0);
    tessera::cuda::silu_backward(dx.p, dgy.p, dgx.p, n, 0);
    // tolerance: CPU uses polynomial approximations (vec_math.h), GPU expf: a few ulp
    const double ey = max_rel(dy.get(), y), eg = max_rel(dgx.get(), gx);
    std::printf("  silu n=%lld: fwd %.3g bwd %.3g\n", (long long)n, ey, eg);
    CHECK(ey < 2e-6);
    CHECK(eg < 2e-6);
  }
}

TEST_CASE(gelu_fwd_bwd) {
  for (int tanh_form = 0; tanh_form < 2; ++tanh_form) {
    for (int64_t n : kSizes) {
      auto x = randv(n, 21 + n, 3.0f), gy = randv(n, 22 + n);
      std::vector<float> y(n), gx(n);
      tessera::cpu::gelu_forward(x.data(), y.data(), n, tanh_form);
      tessera::cpu::gelu_backward(x.data(), gy.data(), gx.data(), n, tanh_form);
      Dev dx(x), dgy(gy), dy(n), dgx(n);
      tessera::cuda::gelu_forward(dx.p, dy.p, n, tanh_form, 0);
      tessera::cuda::gelu_backward(dx.p, dgy.p, dgx.p, n, tanh_form, 0);
      // tolerance: erff/tanhf vs the CPU polynomials, a few ulp relative to max(1, |ref|)
      const double ey = max_rel(dy.get(), y), eg = max_rel(dgx.get(), gx);
      std::printf("  gelu %s n=%lld: fwd %.3g bwd %.3g\n", tanh_form ? "tanh" : "erf", (long long)n, ey, eg);
      CHECK(ey < 2e-6);
      CHECK(eg < 2e-6);
    }
  }
}

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Same bits (so NaN == NaN with the same payload, and -0 != +0).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// max |a - b| / |b| over b != 0 (exp's results here are all normal floats)
double max_rel_exact(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(double(a[i]) - b[i]) / std::fabs(b[i]));
  return m;
}

}  // namespace

TEST_CASE(exp_fwd_bwd) {
  for (int64_t n : kSizes) {
    // |x| up to ~40: every result is a normal float, so the error is relative
    auto x = randv(n, 51 + n, 8.0f), gy = randv(n, 52 + n);
    std::vector<float> y(n), gx(n);
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = std::exp(double(x[i]));
    tessera::cpu::exp_forward(x.data(), y.data(), n);
    tessera::cpu::exp_backward(y.data(), gy.data(), gx.data(), n);
    Dev dx(x), dgy(gy), dyc(y), dy(n), dgx(n);
    tessera::cuda::exp_forward(dx.p, dy.p, n, 0);
    tessera::cuda::exp_backward(dyc.p, dgy.p, dgx.p, n, 0);  // from the CPU's y: one multiply, same bits
    // tolerance: vm::exp <= 1.01 ulp, expf <= 2 ulp (CUDA; glibc under the emulator <= 1): 3 ulp = 3.6e-7
    const double ec = max_rel_exact(dy.get(), want), eh = max_rel_exact(y, want);
    std::vector<double> y64(y.begin(), y.end());
    const double ey = max_rel_exact(dy.get(), y64);
    std::printf("  exp n=%lld: gpu vs cpu %.3g, gpu vs double %.3g, cpu vs double %.3g\n", (long long)n, ey, ec, eh);
    CHECK(ey < 4e-7);
    CHECK(ec < 2.5e-7);
    CHECK(eh < 1.3e-7);
    CHECK(same_bits(dgx.get(), gx));
  }
}

TEST_CASE(exp_special_values) {
  const std::vector<float> x = {0.0f, -0.0f, 1.0f, -1.0f, 88.0f, 89.0f, -87.0f, -110.0f, kInf, -kInf, kNaN};
  const int64_t n = int64_t(x.size());
  std::vector<float> y(n);
  tessera::cpu::exp_forward(x.data(), y.data(), n);
  Dev dx(x), dy(n);
  tessera::cuda::exp_forward(dx.p, dy.p, n, 0);
  const std::vector<float> g = dy.get();
  for (const std::vector<float>* v : {static_cast<const std::vector<float>*>(&y), &g}) {
    const std::vector<float>& r = *v;
    CHECK(r[0] == 1.0f && r[1] == 1.0f);
    CHECK(std::fabs(r[2] - 2.7182817f) <= 3e-7f && std::fabs(r[3] - 0.36787945f) <= 1e-7f);
    CHECK(std::isfinite(r[4]) && r[4] > 1e38f);
    CHECK(r[5] == kInf);             // overflow
    CHECK(r[6] > 0 && r[6] < 2e-38f);  // still a (normal) positive float
    CHECK(r[7] == 0.0f);             // underflow
    CHECK(r[8] == kInf && r[9] == 0.0f && std::isnan(r[10]));
  }
}

TEST_CASE(clamp_fwd_bwd) {
  struct Bounds {
    float lo, hi;
  };
  // both bounds, min only, max only, min == max, both infinite
  const Bounds kBounds[] = {{-1.0f, 1.5f}, {-0.25f, kInf}, {-kInf, 0.5f}, {0.75f, 0.75f}, {-kInf, kInf}};
  for (const Bounds& b : kBounds) {
    for (int64_t n : kSizes) {
      auto x = randv(n, 61 + n, 2.0f), gy = randv(n, 62 + n);
      // values exactly at the bounds, and non-finite ones
      for (int64_t i = 0; i < n; i += 7) x[i] = (i / 7) % 2 ? b.hi : b.lo;
      for (int64_t i = 3; i < n; i += 29) x[i] = (i / 29) % 3 == 0 ? kNaN : ((i / 29) % 3 == 1 ? kInf : -kInf);
      std::vector<float> want(n), gwant(n), y(n), gx(n);
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        want[i] = std::isnan(v) ? v : std::fmin(std::fmax(v, b.lo), b.hi);
        gwant[i] = (v >= b.lo && v <= b.hi) ? gy[i] : 0.0f;
      }
      tessera::cpu::clamp_forward(x.data(), y.data(), n, b.lo, b.hi);
      tessera::cpu::clamp_backward(x.data(), gy.data(), gx.data(), n, b.lo, b.hi);
      Dev dx(x), dgy(gy), dy(n), dgx(n);
      tessera::cuda::clamp_forward(dx.p, dy.p, n, b.lo, b.hi, 0);
      tessera::cuda::clamp_backward(dx.p, dgy.p, dgx.p, n, b.lo, b.hi, 0);
      // pure selection: bit-identical to the reference on both devices
      const bool ok = same_bits(y, want) && same_bits(gx, gwant) && same_bits(dy.get(), want) &&
                      same_bits(dgx.get(), gwant);
      std::printf("  clamp [%g, %g] n=%lld: %s\n", b.lo, b.hi, (long long)n, ok ? "bit-identical" : "DIFFERS");
      CHECK(ok);
    }
  }
}

namespace {
struct BTC {
  int64_t B, T, C;
};
const BTC kShapes[] = {{1, 1, 1}, {2, 7, 33}, {3, 17, 65}, {2, 50, 100}};
}  // namespace

TEST_CASE(modulate_fwd_bwd) {
  for (const auto& s : kShapes) {
    const int64_t B = s.B, T = s.T, C = s.C, n = B * T * C;
    auto x = randv(n, 31), scale = randv(B * C, 32, 0.5f), shift = randv(B * C, 33), gy = randv(n, 34);
    std::vector<double> y(n), gx(n), gscale(B * C, 0.0), gshift(B * C, 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = (b * T + t) * C + c, bc = b * C + c;
          y[i] = double(x[i]) * (1.0 + scale[bc]) + shift[bc];
          gx[i] = double(gy[i]) * (1.0 + scale[bc]);
          gscale[bc] += double(gy[i]) * x[i];
          gshift[bc] += gy[i];
        }
    Dev dx(x), dscale(scale), dshift(shift), dgy(gy), dy(n), dgx(n), dgscale(B * C), dgshift(B * C);
    tessera::cuda::modulate_forward(dx.p, dscale.p, dshift.p, dy.p, B, T, C, 0);
    tessera::cuda::modulate_backward(dx.p, dscale.p, dgy.p, dgx.p, dgscale.p, dgshift.p, B, T, C, 0);
    // tolerance: fwd/gx are 1-2 float roundings; sums over T in fp32 ~ T * eps relative to sqrt(T) scale
    const double e1 = max_rel(dy.get(), y), e2 = max_rel(dgx.get(), gx), e3 = max_rel(dgscale.get(), gscale),
                 e4 = max_rel(dgshift.get(), gshift);
    std::printf("  modulate [%lld,%lld,%lld]: y %.3g gx %.3g gscale %.3g gshift %.3g\n", (long long)B, (long long)T,
                (long long)C, e1, e2, e3, e4);
    CHECK(e1 < 1e-6);
    CHECK(e2 < 1e-6);
    CHECK(e3 < 1e-5);
    CHECK(e4 < 1e-5);
  }
}

TEST_CASE(gate_fwd_bwd) {
  for (const auto& s : kShapes) {
    const int64_t B = s.B, T = s.T, C = s.C, n = B * T * C;
    auto x = randv(n, 41), gate = randv(B * C, 42), h = randv(n, 43), gy = randv(n, 44);
    std::vector<double> y(n), gh(n), ggate(B * C, 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = (b * T + t) * C + c, bc = b * C + c;
          y[i] = double(x[i]) + double(gate[bc]) * h[i];
          gh[i] = double(gy[i]) * gate[bc];
          ggate[bc] += double(gy[i]) * h[i];
        }
    Dev dx(x), dgate(gate), dh(h), dgy(gy), dy(n), dgx(n), dgh(n), dggate(B * C);
    tessera::cuda::gate_forward(dx.p, dgate.p, dh.p, dy.p, B, T, C, 0);
    tessera::cuda::gate_backward(dgate.p, dh.p, dgy.p, dgx.p, dgh.p, dggate.p, B, T, C, 0);
    // tolerance: as for modulate; gx must equal gy exactly
    const double e1 = max_rel(dy.get(), y), e2 = max_rel(dgh.get(), gh), e3 = max_rel(dggate.get(), ggate);
    std::printf("  gate [%lld,%lld,%lld]: y %.3g gh %.3g ggate %.3g\n", (long long)B, (long long)T, (long long)C,
                e1, e2, e3);
    CHECK(e1 < 1e-6);
    CHECK(e2 < 1e-6);
    CHECK(e3 < 1e-5);
    CHECK(dgx.get() == gy);
  }
}

TEST_MAIN()
