// SiLU, GELU, exp and clamp, forward and backward (formulas in activation.h), using the
// branch-free approximations of cpu/vec_math.h so every loop vectorizes (zmm on
// AVX-512). Work is split into chunks of kGrain elements.
#include "cpu/activation.h"

#include <algorithm>

#include "core/cpu_features.h"
#include "core/threadpool.h"
#include "cpu/vec_math.h"

namespace tessera {
namespace cpu {

namespace {

constexpr int64_t kGrain = 16384;
constexpr int64_t kBlock = 1024;

// Ranges start at multiples of kBlock: bit-identical for any thread count.
template <class Fn>
void parallel_blocks(int64_t n, const Fn& fn) {
  parallel_for_blocks(n, kBlock, kGrain, fn);
}
constexpr float kSqrt1_2 = 0.70710678118654752440f;    // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1 / sqrt(2 pi)
constexpr float kSqrt2OverPi = 0.79788456080286535588f; // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;

// y = x * sigmoid(x)
template <Isa I>
TESSERA_INLINE void silu_fwd_impl(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * vm::sigmoid(x[i]);
}
TESSERA_ISA_DISPATCH(silu_fwd, silu_fwd_impl, (const float* x, float* y, int64_t n), (x, y, n))

// gx = gy * s * (1 + x (1 - s))
template <Isa I>
TESSERA_INLINE void silu_bwd_impl(const float* __restrict x, const float* __restrict gy, float* __restrict gx,
                                  int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = vm::sigmoid(x[i]);
    gx[i] = gy[i] * (s * (1.0f + x[i] * (1.0f - s)));
  }
}
TESSERA_ISA_DISPATCH(silu_bwd, silu_bwd_impl, (const float* x, const float* gy, float* gx, int64_t n),
                     (x, gy, gx, n))

// y = 0.5 x (1 + erf(x / sqrt 2))
template <Isa I>
TESSERA_INLINE void gelu_erf_fwd_impl(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + vm::erf(x[i] * kSqrt1_2));
}
TESSERA_ISA_DISPATCH(gelu_erf_fwd, gelu_erf_fwd_impl, (const float* x, float* y, int64_t n), (x, y, n))

// gx = gy * (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))
template <Isa I>
TESSERA_INLINE void gelu_erf_bwd_impl(const float* __restrict x, const float* __restrict gy,
                                      float* __restrict gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + vm::erf(v * kSqrt1_2));
    const float pdf = vm::exp(-0.5f * v * v) * kInvSqrt2Pi;
    gx[i] = gy[i] * (cdf + v * pdf);
  }
}
TESSERA_ISA_DISPATCH(gelu_erf_bwd, gelu_erf_bwd_impl, (const float* x, const float* gy, float* gx, int64_t n),
                     (x, gy, gx, n))

// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
template <Isa I>
TESSERA_INLINE void gelu_tanh_fwd_impl(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = kSqrt2OverPi * (v + kKappa * v * v * v);
    y[i] = 0.5f * v * (1.0f + vm::tanh(u));
  }
}
TESSERA_ISA_DISPATCH(gelu_tanh_fwd, gelu_tanh_fwd_impl, (const float* x, float* y, int64_t n), (x, y, n))

// gx = gy * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 kappa x^2)),  t = tanh(u)
template <Isa I>
TESSERA_INLINE void gelu_tanh_bwd_impl(const float* __restrict x, const float* __restrict gy,
                                       float* __restrict gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float v2 = v * v;
    const float t = vm::tanh(kSqrt2OverPi * (v + kKappa * v2 * v));
    const float left = 0.5f * (1.0f + t);
    const float right = 0.5f * v * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kKappa * v2);
    gx[i] = gy[i] * (left + right);
  }
}
TESSERA_ISA_DISPATCH(gelu_tanh_bwd, gelu_tanh_bwd_impl,
                     (const float* x, const float* gy, float* gx, int64_t n), (x, gy, gx, n))

// y = exp(x)
template <Isa I>
TESSERA_INLINE void exp_fwd_impl(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = vm::exp(x[i]);
}
TESSERA_ISA_DISPATCH(exp_fwd, exp_fwd_impl, (const float* x, float* y, int64_t n), (x, y, n))

// gx = gy * y
template <Isa I>
TESSERA_INLINE void exp_bwd_impl(const float* __restrict y, const float* __restrict gy, float* __restrict gx,
                                 int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * y[i];
}
TESSERA_ISA_DISPATCH(exp_bwd, exp_bwd_impl, (const float* y, const float* gy, float* gx, int64_t n),
                     (y, gy, gx, n))

// y = x < lo ? lo : (x > hi ? hi : x): both comparisons are false for NaN, which
// passes through (std::fmin / fmax would drop it); the selects become blends.
template <Isa I>
TESSERA_INLINE void clamp_fwd_impl(const float* __restrict x, float* __restrict y, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  }
}
TESSERA_ISA_DISPATCH(clamp_fwd, clamp_fwd_impl, (const float* x, float* y, int64_t n, float lo, float hi),
                     (x, y, n, lo, hi))

// gx = gy where lo <= x <= hi, else 0 (a select, not a multiply: gy = inf/NaN outside gives 0)
template <Isa I>
TESSERA_INLINE void clamp_bwd_impl(const float* __restrict x, const float* __restrict gy, float* __restrict gx,
                                   int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    gx[i] = (v >= lo && v <= hi) ? gy[i] : 0.0f;
  }
}
TESSERA_ISA_DISPATCH(clamp_bwd, clamp_bwd_impl,
                     (const float* x, const float* gy, float* gx, int64_t n, float lo, float hi),
                     (x, gy, gx, n, lo, hi))

}  // namespace

void silu_forward(const float* x, float* y, int64_t n) {
  parallel_blocks(n, [&](int64_t b, int64_t e) { silu_fwd(x + b, y + b, e - b); });
}

void silu_backward(const float* x, const float* gy, float* gx, int64_t n) {
  parallel_blocks(n, [&](int64_t b, int64_t e) { silu_bwd(x + b, gy + b, gx + b, e - b); });
}

void gelu_forward(const float* x, float* y, int64_t n, bool approximate_tanh) {
  parallel_blocks(n, [&](int64_t b, int64_t e) {
    if (approximate_tanh) gelu_tanh_fwd(x + b, y + b, e - b);
    else gelu_erf_fwd(x + b, y + b, e - b);
  });
}

void gelu_backward(const float* x, const float* gy, float* gx, int64_t n, bool approximate_tanh) {
  parallel_blocks(n, [&](int64_t b, int64_t e) {
    if (approximate_tanh) gelu_tanh_bwd(x + b, gy + b, gx + b, e - b);
    else gelu_erf_bwd(x + b, gy + b, gx + b, e - b);
  });
}

void exp_forward(const float* x, float* y, int64_t n) {
  parallel_blocks(n, [&](int64_t b, int64_t e) { exp_fwd(x + b, y + b, e - b); });
}

void exp_backward(const float* y, const float* gy, float* gx, int64_t n) {
  parallel_blocks(n, [&](int64_t b, int64_t e) { exp_bwd(y + b, gy + b, gx + b, e - b); });
}

void clamp_forward(const float* x, float* y, int64_t n, float lo, float hi) {
  parallel_blocks(n, [&](int64_t b, int64_t e) { clamp_fwd(x + b, y + b, e - b, lo, hi); });
}

void clamp_backward(const float* x, const float* gy, float* gx, int64_t n, float lo, float hi) {
  parallel_blocks(n, [&](int64_t b, int64_t e) { clamp_bwd(x + b, gy + b, gx + b, e - b, lo, hi); });
}

}  // namespace cpu
}  // namespace tessera
