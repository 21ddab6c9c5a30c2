// Parity: cuda/rope.cu against native/cpu/rope (forward and backward; odd sizes,
// fractional positions, an empty section, the unaligned scalar path, and a grid
// whose y-blocks each walk several (b, h) rows).
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/tensor.h"
#include "cpu/rope.h"
#include "parity.h"
#include "rope.h"
#include "tests/check.h"

using tessera_parity::Dev;
using tessera_parity::randv;

namespace {

struct Case {
  int64_t B, H, N, Dh, st, sh, sw;
  double theta;
  float pos_scale;  // positions ~ N(0, 1) * pos_scale + pos_scale (fractional, some negative)
  bool unaligned;   // offset the device pointers by one float: the scalar (non-float2) kernel
};

// Worst |gpu - cpu| / (|x[2i]| + |x[2i+1]|) over all elements: the rotation's
// rounding error is relative to the size of its input pair.
double max_pair_rel(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& in,
                    double* max_abs, int64_t* exact) {
  double m = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    const size_t e = k & ~size_t(1);
    const double d = std::fabs(double(got[k]) - double(want[k]));
    const double mag = std::fabs(double(in[e])) + std::fabs(double(in[e + 1]));
    m = std::fmax(m, d / (mag + 1e-30));
    *max_abs = std::fmax(*max_abs, d);
    if (got[k] == want[k]) ++*exact;
  }
  return m;
}

void run(const Case& c) {
  const int64_t n = c.B * c.H * c.N * c.Dh;
  auto x = randv(n, 300 + n + c.Dh, 2.0f), gy = randv(n, 400 + n + c.Dh, 2.0f);
  auto pos = randv(3 * c.N, 500 + c.N, c.pos_scale, c.pos_scale);
  std::vector<float> y(n), gx(n);
  tessera::cpu::rope3d_forward(x.data(), pos.data(), y.data(), c.B, c.H, c.N, c.Dh, c.st, c.sh, c.sw, c.theta);
  tessera::cpu::rope3d_backward(gy.data(), pos.data(), gx.data(), c.B, c.H, c.N, c.Dh, c.st, c.sh, c.sw, c.theta);

  const int64_t pad = c.unaligned ? 1 : 0;
  std::vector<float> xh(pad, 0.0f), gyh(pad, 0.0f);
  xh.insert(xh.end(), x.begin(), x.end());
  gyh.insert(gyh.end(), gy.begin(), gy.end());
  Dev dx(xh), dgy(gyh), dpos(pos), dy(size_t(n + pad)), dgx(size_t(n + pad));
  tessera::cuda::rope3d_forward(dx.p + pad, dpos.p, dy.p + pad, c.B, c.H, c.N, c.Dh, c.st, c.sh, c.sw, c.theta, 0);
  tessera::cuda::rope3d_backward(dgy.p + pad, dpos.p, dgx.p + pad, c.B, c.H, c.N, c.Dh, c.st, c.sh, c.sw, c.theta,
                                 0);
  std::vector<float> yg = dy.get(), gxg = dgx.get();
  yg.erase(yg.begin(), yg.begin() + pad);
  gxg.erase(gxg.begin(), gxg.begin() + pad);

  double abs_y = 0, abs_g = 0;
  int64_t exact_y = 0, exact_g = 0;
  const double ey = max_pair_rel(yg, y, x, &abs_y, &exact_y);
  const double eg = max_pair_rel(gxg, gx, gy, &abs_g, &exact_g);
  std::printf("  rope3d [%lld,%lld,%lld,%lld] sections [%lld,%lld,%lld] theta %g%s: fwd %.3g (abs %.3g, %lld/%lld "
              "bit-exact) bwd %.3g (abs %.3g, %lld/%lld bit-exact)\n",
              (long long)c.B, (long long)c.H, (long long)c.N, (long long)c.Dh, (long long)c.st, (long long)c.sh,
              (long long)c.sw, c.theta, c.unaligned ? " unaligned" : "", ey, abs_y, (long long)exact_y,
              (long long)n, eg, abs_g, (long long)exact_g, (long long)n);
  // tolerance: both sides take cos a, sin a from the same double-precision angle
  // rounded once to float (a rare 1-ulp difference where the double results
  // straddle a float rounding boundary), then y = x0 c + x1 s in fp32 with or
  // without FMA contraction (nvcc contracts, the emulator's x86-64 build does
  // not, the CPU's AVX2/AVX-512 paths do): a few ulp of |x0| + |x1|. 2^-22 is
  // 4 ulp of that sum.
  const double tol = std::ldexp(1.0, -22);
  CHECK(ey <= tol);
  CHECK(eg <= tol);
}

}  // namespace

TEST_CASE(rope3d_dh24_sections_8_8_8) {
  run({2, 3, 37, 24, 8, 8, 8, 10000.0, 8.0f, false});
  run({2, 3, 37, 24, 8, 8, 8, 100.0, 20.0f, false});
}

TEST_CASE(rope3d_dh40_sections_8_16_16) {
  run({2, 3, 37, 40, 8, 16, 16, 10000.0, 30.0f, false});
}

TEST_CASE(rope3d_empty_section_and_unaligned) {
  run({2, 3, 37, 24, 0, 12, 12, 10000.0, 8.0f, false});
  run({2, 3, 37, 40, 8, 16, 16, 500.0, 16.0f, true});
  run({1, 1, 1, 2, 2, 0, 0, 10000.0, 3.0f, true});
}

TEST_CASE(rope3d_rows_per_y_block) {
  // N * Dh/2 = 213148 pairs: 833 x-blocks, so 5 y-blocks each walk up to 2 of the 7 rows
  run({1, 7, 4099, 104, 8, 48, 48, 10000.0, 32.0f, false});
}

TEST_MAIN()
