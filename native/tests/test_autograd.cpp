// Autograd tape, no-grad mode and AdamW: a 2-layer MLP learns a toy regression.
#include <cmath>

#include "core/autograd.h"
#include "core/optimizer.h"
#include "tests/check.h"

using namespace tessera;

// y = sin(3 x0) + 0.5 x1 x2 on x in [-1, 1]^3: smooth, nonlinear, not separable.
static void make_data(int64_t n, uint64_t seed, Tensor* x, Tensor* y) {
  *x = Tensor::rand({n, 3}, seed);
  *y = Tensor::empty({n, 1});
  float* px = x->f32();
  float* py = y->f32();
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 3; ++j) px[i * 3 + j] = 2.0f * px[i * 3 + j] - 1.0f;
    py[i] = std::sin(3.0f * px[i * 3]) + 0.5f * px[i * 3 + 1] * px[i * 3 + 2];
  }
}

static Var param(const Shape& s, uint64_t seed, float std) {
  Tensor t = Tensor::randn(s, seed);
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] *= std;
  return Var(t, true);
}

struct Mlp {
  Var w1 = param({64, 3}, 11, 0.6f), b1 = Var(Tensor::zeros({64}), true);
  Var w2 = param({1, 64}, 12, 0.15f), b2 = Var(Tensor::zeros({1}), true);
  Var forward(const Var& x) const {
    Var h = apply1("matmul", {x, w1, b1}, {{"transB", true}});
    h = apply1("silu", {h});
    return apply1("matmul", {h, w2, b2}, {{"transB", true}});
  }
  std::vector<Var> params() const { return {w1, b1, w2, b2}; }
};

static float eval_loss(const Mlp& net, const Tensor& x, const Tensor& y) {
  NoGradGuard ng;
  Var loss = apply1("mse_loss", {net.forward(Var(x)), Var(y)});
  return loss.value().f32()[0];
}

// A 2-layer MLP (3 -> 64 -> 1, SiLU) trained with AdamW (lr 1e-2, batch 256,
// 600 steps, clip 1.0) reaches held-out MSE < 0.005 (the target's variance is
// about 0.52, so over 99% of the variance is explained; measured: 0.00044).
TEST_CASE(mlp_learns_toy_regression) {
  Tensor xtr, ytr, xte, yte;
  make_data(4096, 1, &xtr, &ytr);
  make_data(1024, 2, &xte, &yte);
  Mlp net;
  AdamW opt(net.params(), AdamWConfig{1e-2, 0.9, 0.999, 1e-8, 1e-4});
  float initial = eval_loss(net, xte, yte);
  for (int step = 0; step < 600; ++step) {
    int64_t start = (step * 256) % 4096;
    Var xb(xtr.slice(0, start, start + 256));
    Var yb(ytr.slice(0, start, start + 256));
    Var loss = apply1("mse_loss", {net.forward(xb), yb});
    backward(loss);
    CHECK(tape_size() == 0);
    opt.clip_grad_norm(1.0);
    opt.step();
  }
  float final_loss = eval_loss(net, xte, yte);
  std::printf("  held-out MSE: %.5f -> %.5f\n", initial, final_loss);
  CHECK(initial > 0.2f);
  CHECK(final_loss < 0.005f);
}

TEST_CASE(no_grad_records_nothing) {
  Var x(Tensor::randn({4, 5}, 3), true);
  {
    NoGradGuard ng;
    Var y = apply1("silu", {x});
    CHECK(tape_size() == 0);
    CHECK(!y.requires_grad());
  }
  Var y = apply1("silu", {x});
  CHECK(tape_size() == 1);
  CHECK(y.requires_grad());
  clear_tape();
}

// d/dx sum(x * x + x) = 2x + 1: a variable used twice accumulates both paths.
TEST_CASE(gradients_accumulate_over_uses) {
  Tensor xt = Tensor::randn({7}, 5);
  Var x(xt, true);
  Var sq = apply1("mul", {x, x});
  Var s = apply1("add", {sq, x});
  Var loss = apply1("sum", {s});
  backward(loss);
  const float* g = x.grad().f32();
  for (int i = 0; i < 7; ++i) CHECK_NEAR(g[i], 2.0 * xt.f32()[i] + 1.0, 1e-5);
}

TEST_CASE(inputs_without_grad_get_none) {
  Var x(Tensor::randn({3, 4}, 6), true);
  Var c(Tensor::randn({3, 4}, 7), false);
  Var loss = apply1("mse_loss", {x, c});
  backward(loss);
  CHECK(x.grad().defined());
  CHECK(!c.grad().defined());
}

TEST_MAIN()
