// AdamW update and gradient-norm clipping kernels (formulas in optim.h).
#include "cpu/optim.h"

#include <algorithm>
#include <cmath>

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
constexpr int64_t kSumBlock = 16384;

struct AdamWScalars {
  float decay;        // 1 - lr wd
  float one_minus_b1; // 1 - b1 (lerp weight)
  float b2, one_minus_b2;
  float bc2_sqrt;     // sqrt(1 - b2^t) (divided by, as torch does)
  float eps;
  float neg_step_size; // -lr / (1 - b1^t)
};

template <Isa I>
TESSERA_INLINE void adamw_impl(float* __restrict p, const float* __restrict g, float* __restrict m,
                               float* __restrict v, int64_t n, const AdamWScalars* s) {
  const float decay = s->decay, w1 = s->one_minus_b1, b2 = s->b2, w2 = s->one_minus_b2;
  const float bc2_sqrt = s->bc2_sqrt, eps = s->eps, neg_step = s->neg_step_size;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float pi = p[i] * decay;
    const float mi = m[i] + w1 * (gi - m[i]);
    const float vi = v[i] * b2 + w2 * gi * gi;
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + neg_step * mi / denom;
  }
}
TESSERA_ISA_DISPATCH(adamw_range, adamw_impl,
                     (float* p, const float* g, float* m, float* v, int64_t n, const AdamWScalars* s),
                     (p, g, m, v, n, s))

template <Isa I>
TESSERA_INLINE void sumsq_blocks_impl(const float* x, int64_t n, int64_t b0, int64_t b1, double* partial) {
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t begin = b * kSumBlock;
    const int64_t len = n - begin < kSumBlock ? n - begin : kSumBlock;
    partial[b] = vm::dot(x + begin, x + begin, len);
  }
}
TESSERA_ISA_DISPATCH(sumsq_blocks, sumsq_blocks_impl,
                     (const float* x, int64_t n, int64_t b0, int64_t b1, double* partial), (x, n, b0, b1, partial))

template <Isa I>
TESSERA_INLINE void scale_impl(float* __restrict x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}
TESSERA_ISA_DISPATCH(scale_range, scale_impl, (float* x, int64_t n, float s), (x, n, s))

}  // namespace

void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, AdamWConfig cfg, int64_t step) {
  const double bc1 = 1.0 - std::pow(cfg.beta1, double(step));
  const double bc2 = 1.0 - std::pow(cfg.beta2, double(step));
  AdamWScalars s;
  s.decay = float(1.0 - cfg.lr * cfg.weight_decay);
  s.one_minus_b1 = float(1.0 - cfg.beta1);
  s.b2 = float(cfg.beta2);
  s.one_minus_b2 = float(1.0 - cfg.beta2);
  s.bc2_sqrt = float(std::sqrt(bc2));
  s.eps = float(cfg.eps);
  s.neg_step_size = float(-(cfg.lr / bc1));
  parallel_blocks(n, [&](int64_t b, int64_t e) { adamw_range(p + b, g + b, m + b, v + b, e - b, &s); });
}

double sum_of_squares(const float* x, int64_t n) {
  const int64_t nblk = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(static_cast<size_t>(nblk));
  parallel_for(nblk, 2, [&](int64_t b0, int64_t b1) { sumsq_blocks(x, n, b0, b1, partial.data()); });
  double s = 0.0;
  for (double v : partial) s += v;
  return s;
}

double global_norm(const std::vector<const float*>& data, const std::vector<int64_t>& sizes) {
  double s = 0.0;
  for (size_t i = 0; i < data.size(); ++i) s += sum_of_squares(data[i], sizes[i]);
  return std::sqrt(s);
}

float clip_coefficient(double total_norm, double max_norm) {
  const float coef = float(max_norm) / (float(total_norm) + 1e-6f);
  return coef > 1.0f ? 1.0f : coef;  // NaN stays NaN, as torch's clamp
}

void scale_inplace(float* x, int64_t n, float s) {
  parallel_blocks(n, [&](int64_t b, int64_t e) { scale_range(x + b, e - b, s); });
}

}  // namespace cpu
}  // namespace tessera
