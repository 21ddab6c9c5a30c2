// Parity: cuda/resample.cu against native/cpu/resample (nearest / trilinear,
// up and down by 2 and 4, 5-d and 4-d (D = 1) inputs, forward and backward).
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/tensor.h"
#include "cpu/resample.h"
#include "resample.h"
#include "parity.h"
#include "tests/check.h"

using tessera::Tensor;
using tessera_parity::Dev;
using tessera_parity::randv;

namespace {

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return 1e30;
    m = std::fmax(m, std::fabs(double(a[i]) - b[i]));
  }
  return m;
}

double g_max_fwd = 0, g_max_bwd = 0;

// One axis as the op plans it (native/ops/resample.cpp): factor f, up or down.
tessera::cuda::ResampleDim dim(int64_t in, int f, bool up) {
  tessera::cuda::ResampleDim d;
  d.in = in;
  d.out = up ? in * f : in / f;
  d.scale = f == 1 ? 1.0f : up ? float(1.0 / double(f)) : float(f);
  return d;
}

void run(int64_t P, int64_t D, int64_t H, int64_t W, int fd, int fh, int fw, bool up, bool linear) {
  const tessera::cuda::ResampleDim d = dim(D, fd, up), h = dim(H, fh, up), w = dim(W, fw, up);
  const auto ad = tessera::cpu::make_resample_axis(d.in, d.out, d.scale, linear);
  const auto ah = tessera::cpu::make_resample_axis(h.in, h.out, h.scale, linear);
  const auto aw = tessera::cpu::make_resample_axis(w.in, w.out, w.scale, linear);
  const int64_t nin = P * D * H * W, nout = P * d.out * h.out * w.out;
  auto x = randv(nin, 31 + nin), gy = randv(nout, 32 + nout);
  std::vector<float> y(nout), gx(nin);
  tessera::cpu::resample_forward(x.data(), y.data(), P, ad, ah, aw);
  tessera::cpu::resample_backward(gy.data(), gx.data(), P, ad, ah, aw);
  Dev dx(x), dy(nout), dgy(gy), dgx(nin);
  tessera::cuda::resample_forward(dx.p, dy.p, P, d, h, w, linear, 0);
  tessera::cuda::resample_backward(dgy.p, dgx.p, P, d, h, w, linear, 0);
  const double ey = max_abs(dy.get(), y), eg = max_abs(dgx.get(), gx);
  g_max_fwd = std::fmax(g_max_fwd, ey);
  g_max_bwd = std::fmax(g_max_bwd, eg);
  std::printf("  %s %s [%lld,%lld,%lld,%lld] f=(%d,%d,%d): fwd %.2g bwd %.2g\n", linear ? "trilinear" : "nearest",
              up ? "up" : "down", (long long)P, (long long)D, (long long)H, (long long)W, fd, fh, fw, ey, eg);
  // tolerance (abs, inputs ~N(0,1)): same taps and order as the CPU; only FMA
  // contraction differs -> a few ulp of O(1) values: 1e-6 forward;
  // backward sums up to 64 weighted gy (4x up, 3 axes) -> 1e-5
  CHECK(ey < 1e-6);
  CHECK(eg < 1e-5);
}

}  // namespace

TEST_CASE(resample_up) {
  for (bool linear : {false, true}) {
    run(2, 3, 5, 7, 2, 2, 2, true, linear);
    run(1, 2, 3, 5, 4, 4, 4, true, linear);
    run(3, 1, 5, 6, 1, 2, 2, true, linear);   // 4-d input (D = 1)
    run(2, 3, 4, 5, 2, 1, 4, true, linear);   // mixed factors
    run(1, 1, 1, 1, 4, 4, 4, true, linear);   // a single element
  }
}

TEST_CASE(resample_down) {
  for (bool linear : {false, true}) {
    run(2, 6, 10, 14, 2, 2, 2, false, linear);
    run(1, 8, 12, 20, 4, 4, 4, false, linear);
    run(3, 1, 6, 10, 1, 2, 2, false, linear);  // 4-d input
    run(2, 4, 8, 6, 4, 1, 2, false, linear);   // mixed factors
  }
}

TEST_CASE(resample_summary) {
  std::printf("  max error: forward %.3g, backward %.3g\n", g_max_fwd, g_max_bwd);
  CHECK(true);
}

TEST_MAIN()
