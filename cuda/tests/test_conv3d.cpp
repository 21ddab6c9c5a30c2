// Parity: cuda/conv3d.cu against tessera::cpu::conv3d_forward / conv3d_backward
// (native/cpu/conv3d.h), on small odd shapes that leave partial tiles everywhere.
// Error measure: max over elements of |gpu - cpu| / (1 + |cpu|).
//   f32 forward, dx, dw: max(1e-5, 1e-6 sqrt(K)), K the GEMM's reduction length
//     (forward Cin*kD*kH*kW, dx Cout*kD*kH*kW, dw N*Do*Ho*Wo): fp32 FMA on both sides,
//     only the summation order differs (the CPU blocks K for its GEMM and runs dx as a
//     flipped-kernel convolution, the GPU adds in K-step order, dw adds fixed splits of
//     the (sample, position) range), so the rounding difference grows like sqrt(K)
//     (measured: Cout 70, K = 1890: 1.7e-5 against the CPU, where both sides are
//     ~1e-5 from a float64 reference).
//   dbias: 1e-6 (double accumulation on both sides, rounded once).
//   bf16 forward: the CPU runs on the same bf16-rounded x and w, whose products are exact
//     in fp32, so again only the fp32 accumulation order differs: 1e-4 (as gemm_bf16).
// Outputs start as NaN, so an element a kernel forgets to write fails the check.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "conv3d.h"
#include "core/dtype.h"
#include "cpu/conv3d.h"
#include "tests/check.h"
#include "tests/parity.h"

using tessera::cpu::Conv3dShape;
using tessera_parity::Dev;
using tessera_parity::DeviceBuffer;
using tessera_parity::randv;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Conv {
  const char* name;
  int64_t N, Cin, Cout, D, H, W;
  int64_t kD, kH, kW;
  int64_t sD, sH, sW;
  int64_t pF, pB, pH, pW;
};

Conv3dShape shape_of(const Conv& c) {
  Conv3dShape s;
  s.N = c.N, s.Cin = c.Cin, s.Cout = c.Cout, s.D = c.D, s.H = c.H, s.W = c.W;
  s.kD = c.kD, s.kH = c.kH, s.kW = c.kW;
  s.sD = c.sD, s.sH = c.sH, s.sW = c.sW;
  s.pF = c.pF, s.pB = c.pB, s.pH = c.pH, s.pW = c.pW;
  tessera::cpu::conv3d_output_size(s);
  return s;
}

// The cases: N=2, Cin=3, Cout=5, D=5, H=7, W=9 (P = 315, Kc = 81: several K steps of 16
// and 32, partial position tiles) in the padding / stride variants; then one with
// Cout > 64 (two M tiles in the forward and dw) and one with Cin > 64 (two M tiles in dx).
const Conv kCases[] = {
    //  name                   N Cin Cout D  H  W  kD kH kW sD sH sW pF pB pH pW
    {"3x3x3 causal", 2, 3, 5, 5, 7, 9, 3, 3, 3, 1, 1, 1, 2, 0, 1, 1},
    {"3x3x3 symmetric", 2, 3, 5, 5, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"3x3x3 stride 2", 2, 3, 5, 5, 7, 9, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1},
    {"3x3x3 causal stride 1,2,2", 2, 3, 5, 5, 7, 9, 3, 3, 3, 1, 2, 2, 2, 0, 1, 1},
    {"1x1x1", 2, 3, 5, 5, 7, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {"1x1x1 stride 2", 2, 3, 5, 5, 7, 9, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0},
    {"3x1x1 causal", 2, 3, 5, 5, 7, 9, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0},
    {"2x3x1 stride 2,1,3", 2, 3, 5, 5, 7, 9, 2, 3, 1, 2, 1, 3, 1, 0, 1, 0},
    {"Cout 70 (2 M tiles)", 1, 4, 70, 3, 5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"Cin 66 (2 dx M tiles)", 1, 66, 3, 3, 4, 5, 3, 3, 3, 1, 2, 2, 1, 1, 1, 1},
};

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double m = a.size() == b.size() ? 0.0 : 1e30;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]) / (1.0 + std::fabs(double(b[i])));
    m = std::isnan(d) ? 1e30 : std::fmax(m, d);
  }
  return m;
}

constexpr double kTolBias = 1e-6, kTolBf16 = 1e-4;
double tol_f32(int64_t K) { return std::fmax(1e-5, 1e-6 * std::sqrt(double(K))); }
double g_fwd = 0, g_dx = 0, g_dw = 0, g_db = 0, g_bf16 = 0;

int64_t x_count(const Conv3dShape& s) { return s.N * s.Cin * s.D * s.H * s.W; }
int64_t w_count(const Conv3dShape& s) { return s.Cout * s.Cin * s.kD * s.kH * s.kW; }
int64_t y_count(const Conv3dShape& s) { return s.N * s.Cout * s.Do * s.Ho * s.Wo; }

void check_forward(const Conv& c, bool with_bias, uint64_t seed) {
  const Conv3dShape s = shape_of(c);
  auto x = randv(x_count(s), seed), w = randv(w_count(s), seed + 1, 0.5f), bias = randv(s.Cout, seed + 2);
  std::vector<float> ref(size_t(y_count(s)));
  tessera::cpu::conv3d_forward(x.data(), w.data(), with_bias ? bias.data() : nullptr, ref.data(), s);
  Dev dx(x), dw(w), db(bias), dy(std::vector<float>(ref.size(), kNaN));
  tessera::cuda::conv3d_forward(dx.p, dw.p, with_bias ? db.p : nullptr, dy.p, s, 0);
  const double err = max_rel(dy.get(), ref);
  g_fwd = std::fmax(g_fwd, err);
  const double tol = tol_f32(s.Cin * s.kD * s.kH * s.kW);
  std::printf("  forward f32  %-28s bias %d  max err %.3g (tol %.2g)\n", c.name, int(with_bias), err, tol);
  CHECK_NEAR(err, 0.0, tol);
}

void round_bf16(const std::vector<float>& v, std::vector<__nv_bfloat16>* bits, std::vector<float>* rounded) {
  bits->resize(v.size());
  rounded->resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = tessera::f32_to_bf16(v[i]);
    std::memcpy(static_cast<void*>(&(*bits)[i]), &h, 2);
    (*rounded)[i] = tessera::bf16_to_f32(h);
  }
}

void check_forward_bf16(const Conv& c, bool with_bias, int tile_m, uint64_t seed) {
  const Conv3dShape s = shape_of(c);
  std::vector<__nv_bfloat16> xh, wh;
  std::vector<float> x, w;
  round_bf16(randv(x_count(s), seed), &xh, &x);
  round_bf16(randv(w_count(s), seed + 1, 0.5f), &wh, &w);
  auto bias = randv(s.Cout, seed + 2);
  std::vector<float> ref(size_t(y_count(s)));
  tessera::cpu::conv3d_forward(x.data(), w.data(), with_bias ? bias.data() : nullptr, ref.data(), s);
  DeviceBuffer<__nv_bfloat16> dx(xh), dw(wh);
  Dev db(bias), dy(std::vector<float>(ref.size(), kNaN));
  tessera::cuda::conv3d_forward_bf16(dx.p, dw.p, with_bias ? db.p : nullptr, dy.p, s, 0, tile_m);
  const double err = max_rel(dy.get(), ref);
  g_bf16 = std::fmax(g_bf16, err);
  std::printf("  forward bf16 %-28s bias %d tile_m %3d  max err %.3g\n", c.name, int(with_bias), tile_m, err);
  CHECK_NEAR(err, 0.0, kTolBf16);
}

// All three gradients against the CPU, then every subset (the others null) must give
// bit-identical results (the kernels do not depend on what else is computed).
void check_backward(const Conv& c, uint64_t seed) {
  const Conv3dShape s = shape_of(c);
  auto x = randv(x_count(s), seed), w = randv(w_count(s), seed + 1, 0.5f), g = randv(y_count(s), seed + 2);
  std::vector<float> rdx(x.size()), rdw(w.size()), rdb(size_t(s.Cout));
  tessera::cpu::conv3d_backward(x.data(), w.data(), g.data(), rdx.data(), rdw.data(), rdb.data(), s);
  Dev dX(x), dW(w), dG(g);
  const int64_t ws_floats = tessera::cuda::conv3d_backward_workspace_floats(s);
  Dev ws{size_t(ws_floats)};
  float* ws_p = ws_floats > 0 ? ws.p : nullptr;
  std::vector<float> all_dx, all_dw, all_db;
  for (int mask = 7; mask >= 1; --mask) {
    const bool want_dx = mask & 1, want_dw = mask & 2, want_db = mask & 4;
    Dev gx(std::vector<float>(x.size(), kNaN)), gw(std::vector<float>(w.size(), kNaN)),
        gb(std::vector<float>(size_t(s.Cout), kNaN));
    tessera::cuda::conv3d_backward(dX.p, dW.p, dG.p, want_dx ? gx.p : nullptr, want_dw ? gw.p : nullptr,
                                   want_db ? gb.p : nullptr, s, ws_p, 0);
    if (mask == 7) {
      all_dx = gx.get(), all_dw = gw.get(), all_db = gb.get();
      const double ex = max_rel(all_dx, rdx), ew = max_rel(all_dw, rdw), eb = max_rel(all_db, rdb);
      g_dx = std::fmax(g_dx, ex), g_dw = std::fmax(g_dw, ew), g_db = std::fmax(g_db, eb);
      const double tx = tol_f32(s.Cout * s.kD * s.kH * s.kW), tw = tol_f32(s.N * s.Do * s.Ho * s.Wo);
      std::printf("  backward     %-28s max err dx %.3g (tol %.2g) dw %.3g (tol %.2g) dbias %.3g "
                  "(workspace %lld floats)\n",
                  c.name, ex, tx, ew, tw, eb, static_cast<long long>(ws_floats));
      CHECK_NEAR(ex, 0.0, tx);
      CHECK_NEAR(ew, 0.0, tw);
      CHECK_NEAR(eb, 0.0, kTolBias);
      continue;
    }
    const std::vector<float> nan_x(x.size(), kNaN), nan_w(w.size(), kNaN), nan_b(size_t(s.Cout), kNaN);
    auto same_bits = [](const std::vector<float>& a, const std::vector<float>& b) {
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
    };
    CHECK(same_bits(gx.get(), want_dx ? all_dx : nan_x));
    CHECK(same_bits(gw.get(), want_dw ? all_dw : nan_w));
    CHECK(same_bits(gb.get(), want_db ? all_db : nan_b));
  }
}

template <class F>
bool throws_invalid(F f, const char* want) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    const bool ok = std::strstr(e.what(), want) != nullptr;
    if (!ok) std::printf("  message '%s' lacks '%s'\n", e.what(), want);
    return ok;
  }
  return false;
}

}  // namespace

TEST_CASE(conv3d_forward_f32) {
  uint64_t seed = 100;
  for (const Conv& c : kCases) {
    check_forward(c, true, seed);
    seed += 10;
  }
  check_forward(kCases[0], false, 900);
  check_forward(kCases[2], false, 910);
}

TEST_CASE(conv3d_forward_bf16_wmma) {
  check_forward_bf16(kCases[0], true, 0, 1000);   // causal; auto tile (64: Cout <= 64)
  check_forward_bf16(kCases[2], false, 0, 1010);  // stride 2
  check_forward_bf16(kCases[7], true, 0, 1020);   // anisotropic kernel and stride
  check_forward_bf16(kCases[4], true, 0, 1025);   // 1x1x1: Kc = 3, a single K step
  check_forward_bf16(kCases[6], false, 0, 1027);  // 3x1x1 causal
  check_forward_bf16(kCases[8], true, 64, 1030);  // Cout 70: two 64-row tiles
  check_forward_bf16(kCases[8], true, 128, 1040); // one 128-row tile, partial
  // Kc = 8 * 27 = 216 (a multiple of 8): 16-byte vector loads of w, both tiles.
  const Conv vec = {"Cin 8 (vector w loads)", 1, 8, 20, 3, 6, 7, 3, 3, 3, 1, 1, 1, 2, 0, 1, 1};
  check_forward_bf16(vec, true, 64, 1050);
  check_forward_bf16(vec, false, 128, 1060);
}

TEST_CASE(conv3d_backward_f32) {
  uint64_t seed = 2000;
  for (const Conv& c : kCases) {
    check_backward(c, seed);
    seed += 10;
  }
}

// N = 0: the forward writes nothing, dw and dbias are zero (sums over nothing).
TEST_CASE(conv3d_empty_batch) {
  Conv c = kCases[0];
  c.N = 0;
  const Conv3dShape s = shape_of(c);
  Dev y(std::vector<float>(4, kNaN)), gw(std::vector<float>(size_t(w_count(s)), kNaN)),
      gb(std::vector<float>(size_t(s.Cout), kNaN));
  tessera::cuda::conv3d_forward(nullptr, nullptr, nullptr, y.p, s, 0);
  CHECK(std::isnan(y.get()[0]));
  CHECK(tessera::cuda::conv3d_backward_workspace_floats(s) == 0);
  tessera::cuda::conv3d_backward(nullptr, nullptr, nullptr, nullptr, gw.p, gb.p, s, nullptr, 0);
  CHECK(max_rel(gw.get(), std::vector<float>(size_t(w_count(s)), 0.0f)) == 0.0);
  CHECK(max_rel(gb.get(), std::vector<float>(size_t(s.Cout), 0.0f)) == 0.0);
}

TEST_CASE(conv3d_bad_arguments) {
  const Conv3dShape good = shape_of(kCases[0]);
  Dev x(size_t(x_count(good))), w(size_t(w_count(good))), y(size_t(y_count(good)));
  Conv3dShape s = good;
  s.sH = 0;
  CHECK(throws_invalid([&] { tessera::cuda::conv3d_forward(x.p, w.p, nullptr, y.p, s, 0); }, "stride"));
  s = good;
  s.Do += 1;
  CHECK(throws_invalid([&] { tessera::cuda::conv3d_forward(x.p, w.p, nullptr, y.p, s, 0); }, "output size"));
  s = good;
  s.N = -1;
  CHECK(throws_invalid([&] { tessera::cuda::conv3d_backward(x.p, w.p, y.p, x.p, nullptr, nullptr, s, nullptr, 0); },
                       "N=-1"));
  s = good;
  s.kW = 12;  // larger than the padded width 11
  tessera::cpu::conv3d_output_size(s);
  CHECK(throws_invalid([&] { tessera::cuda::conv3d_forward(x.p, w.p, nullptr, y.p, s, 0); }, "kernel size"));
  CHECK(throws_invalid(
      [&] {
        tessera::cuda::conv3d_forward_bf16(reinterpret_cast<const __nv_bfloat16*>(x.p),
                                           reinterpret_cast<const __nv_bfloat16*>(w.p), nullptr, y.p, good, 0, 32);
      },
      "tile_m"));
  // This shape reduces dw in several splits, so dw without a workspace is refused.
  CHECK(tessera::cuda::conv3d_backward_workspace_floats(good) > 0);
  Dev dw(size_t(w_count(good)));
  CHECK(throws_invalid([&] { tessera::cuda::conv3d_backward(x.p, w.p, y.p, nullptr, dw.p, nullptr, good, nullptr, 0); },
                       "workspace"));
}

TEST_CASE(report_max_errors) {
  std::printf("  max rel err: forward f32 %.3g, dx %.3g, dw %.3g (tol max(1e-5, 1e-6 sqrt(K))), bf16 %.3g (tol %g), "
              "dbias %.3g (tol %g)\n",
              g_fwd, g_dx, g_dw, g_bf16, kTolBf16, g_db, kTolBias);
}

TEST_MAIN()
