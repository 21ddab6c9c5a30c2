// Parity: cuda/loss.cu against the CPU ops mse_loss / l1_loss (op table,
// native/ops/loss.cpp + native/cpu/loss.cpp): forward (mean to a scalar) and both
// gradients, over sizes around the 256-element segments and 16384-element blocks,
// with x == target entries (l1's zero gradient) and a NaN.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/op.h"
#include "core/tensor.h"
#include "loss.h"
#include "parity.h"
#include "tests/check.h"

using tessera::Shape;
using tessera::Tensor;
using tessera_parity::Dev;
using tessera_parity::randv;
namespace cu = tessera::cuda;

namespace {

using tessera::shape_numel;
using tessera_parity::host;

bool same_bits(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}

// Number of entries whose bits differ (NaN matches NaN), and max |a - b| / max(1, |b|).
int64_t not_bitwise(const std::vector<float>& a, const std::vector<float>& b, double* max_rel) {
  int64_t c = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same_bits(a[i], b[i])) ++c;
    if (!std::isnan(a[i]) && !std::isnan(b[i]))
      *max_rel = std::fmax(*max_rel, std::fabs(double(a[i]) - b[i]) / std::fmax(1.0, std::fabs(double(b[i]))));
  }
  return c;
}

double g_fwd[2] = {0, 0}, g_bwd[2] = {0, 0};

// mse's lane update is an FMA on the GPU and in the CPU's AVX2 / AVX-512 kernels;
// the generic CPU kernel rounds d*d first. Tolerance there: 16 float adds per lane
// of O(1..10) terms, relative error of the mean ~ a few 1e-7: 2e-6.
bool cpu_has_fma() { return tessera::cpu_isa() != tessera::Isa::Generic; }

void run(bool square, const Shape& shape, uint64_t seed, bool with_equal, bool with_nan, float gscale) {
  const char* name = square ? "mse_loss" : "l1_loss";
  const int64_t n = shape_numel(shape);
  std::vector<float> x = randv(n, seed, 2.0f, 0.5f), t = randv(n, seed + 1);
  if (with_equal)
    for (int64_t i = 0; i < n; i += 5) t[size_t(i)] = x[size_t(i)];  // d = 0: l1 gradient 0 * c
  if (with_nan && n > 3) x[size_t(n / 3)] = std::numeric_limits<float>::quiet_NaN();
  const float gv = gscale * randv(1, seed + 2, 1.0f, 0.0f)[0];
  Tensor X = Tensor::from_f32(x.data(), shape), T = Tensor::from_f32(t.data(), shape);
  Tensor G = Tensor::from_f32(&gv, {});
  std::vector<Tensor> outs;
  std::vector<Tensor> grads = tessera::run_op_backward(name, {X, T}, {}, {G}, &outs);

  Dev dx(x), dt(t), dg(std::vector<float>{gv}), dout(1), dgx(static_cast<size_t>(n)), dgt(static_cast<size_t>(n));
  Dev ws(static_cast<size_t>(square ? cu::mse_loss_workspace_floats(n) : cu::l1_loss_workspace_floats(n)));
  if (square) {
    cu::mse_loss_forward(dx.p, dt.p, dout.p, ws.p, n, 0);
    cu::mse_loss_backward(dx.p, dt.p, dg.p, dgx.p, dgt.p, n, 0);
  } else {
    cu::l1_loss_forward(dx.p, dt.p, dout.p, ws.p, n, 0);
    cu::l1_loss_backward(dx.p, dt.p, dg.p, dgx.p, dgt.p, n, 0);
  }
  const float lg = dout.get()[0], lc = outs[0].f32()[0];
  double rel_f = 0, rel_b = 0;
  const int64_t fwd_bits = not_bitwise({lg}, {lc}, &rel_f);
  const int64_t bwd_bits =
      not_bitwise(dgx.get(), host(grads[0]), &rel_b) + not_bitwise(dgt.get(), host(grads[1]), &rel_b);
  std::printf("  %s %s%s%s: loss gpu %.9g cpu %.9g (rel %.3g), grads %lld not bitwise (rel %.3g)\n", name,
              tessera::shape_str(shape).c_str(), with_equal ? " x==t" : "", with_nan ? " nan" : "", lg, lc, rel_f,
              (long long)bwd_bits, rel_b);
  g_fwd[square] = std::fmax(g_fwd[square], rel_f);
  g_bwd[square] = std::fmax(g_bwd[square], rel_b);
  // backward: one rounding per element on both sides -> bit-identical (signed zeros included)
  CHECK(bwd_bits == 0);
  if (!square || cpu_has_fma()) CHECK(fwd_bits == 0);  // same lanes, same order
  else CHECK(rel_f < 2e-6);
}

}  // namespace

TEST_CASE(loss_small) {
  for (bool sq : {true, false}) {
    run(sq, {1}, 10, false, false, 1.0f);
    run(sq, {7}, 11, false, false, -2.0f);
    run(sq, {3, 5, 7}, 12, true, false, 1.0f);
    run(sq, {255}, 13, false, false, 0.5f);
    run(sq, {256}, 14, true, false, -1.0f);
    run(sq, {257}, 15, false, false, 1.0f);
    run(sq, {2, 3, 4, 5, 6}, 16, true, false, 3.0f);  // rank 5
  }
}

TEST_CASE(loss_blocks) {
  for (bool sq : {true, false}) {
    run(sq, {16384}, 20, false, false, 1.0f);
    run(sq, {16385}, 21, true, false, -0.5f);
    run(sq, {7, 9001}, 22, true, false, 1.0f);  // 63007: 4 blocks, last one partial
    run(sq, {5, 4099}, 23, false, true, 1.0f);  // NaN: loss NaN, one NaN gradient
  }
}

TEST_CASE(loss_empty_and_errors) {
  Dev out(1), ws(0), dg(std::vector<float>{1.0f});
  cu::mse_loss_forward(nullptr, nullptr, out.p, ws.p, 0, 0);
  CHECK(std::isnan(out.get()[0]));
  cu::l1_loss_forward(nullptr, nullptr, out.p, ws.p, 0, 0);
  CHECK(std::isnan(out.get()[0]));
  cu::mse_loss_backward(nullptr, nullptr, dg.p, nullptr, nullptr, 0, 0);
  // the CPU op agrees on the empty mean
  Tensor E = Tensor::zeros({0, 3});
  CHECK(std::isnan(tessera::run_op("mse_loss", {E, E}, {})[0].f32()[0]));
  bool threw = false;
  try {
    Dev x(randv(20000, 1)), t(randv(20000, 2));
    cu::mse_loss_forward(x.p, t.p, out.p, nullptr, 20000, 0);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("workspace") != std::string::npos;
  }
  CHECK(threw);
  threw = false;
  try {
    cu::l1_loss_backward(nullptr, nullptr, dg.p, nullptr, nullptr, -1, 0);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("n = -1") != std::string::npos;
  }
  CHECK(threw);
  CHECK(cu::mse_loss_workspace_floats(16384) == 2 && cu::mse_loss_workspace_floats(16385) == 4);
}

TEST_CASE(loss_summary) {
  std::printf("  max rel errors: mse fwd %.3g bwd %.3g, l1 fwd %.3g bwd %.3g (cpu isa %s)\n", g_fwd[1], g_bwd[1],
              g_fwd[0], g_bwd[0], tessera::isa_name(tessera::cpu_isa()));
}

TEST_MAIN()
