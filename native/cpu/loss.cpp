// MSE and L1 losses (mean reduction), forward sums and elementwise backward
// (formulas in loss.h).
#include "cpu/loss.h"

#include <algorithm>
#include <vector>

#include "core/cpu_features.h"
#include "core/threadpool.h"

namespace tessera {
namespace cpu {

namespace {

constexpr int kLanes = 16;
constexpr int64_t kSegment = 256;
constexpr int64_t kGrain = 16384;
constexpr int64_t kBlock = 1024;

// Ranges start at multiples of kBlock: bit-identical for any thread count.
template <class Fn>
void parallel_blocks(int64_t n, const Fn& fn) {
  parallel_for_blocks(n, kBlock, kGrain, fn);
}

// Sum over one segment (n <= kSegment) of (x - y)^2 (square) or |x - y|:
// 16 float lanes, added in order in double.
template <Isa I>
TESSERA_INLINE double segment_loss(const float* __restrict x, const float* __restrict y, int64_t n, bool square) {
  float lanes[kLanes];
  for (int k = 0; k < kLanes; ++k) lanes[k] = 0.0f;
  int64_t j = 0;
  if (square) {
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const float d = x[j + k] - y[j + k];
        lanes[k] += d * d;
      }
    for (int k = 0; j + k < n; ++k) {
      const float d = x[j + k] - y[j + k];
      lanes[k] += d * d;
    }
  } else {
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const float d = x[j + k] - y[j + k];
        lanes[k] += d < 0.0f ? -d : d;
      }
    for (int k = 0; j + k < n; ++k) {
      const float d = x[j + k] - y[j + k];
      lanes[k] += d < 0.0f ? -d : d;
    }
  }
  double s = 0.0;
  for (int k = 0; k < kLanes; ++k) s += double(lanes[k]);
  return s;
}

// Sum over one block (n <= kLossBlock): segments of kSegment added in order in double.
template <Isa I>
TESSERA_INLINE double block_loss(const float* x, const float* y, int64_t n, bool square) {
  double s = 0.0;
  for (int64_t j = 0; j < n; j += kSegment)
    s += segment_loss<I>(x + j, y + j, n - j < kSegment ? n - j : kSegment, square);
  return s;
}

template <Isa I>
TESSERA_INLINE void loss_blocks_impl(const float* x, const float* y, int64_t n, bool square, int64_t b0, int64_t b1,
                                     double* partial) {
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t begin = b * kLossBlock;
    const int64_t len = n - begin < kLossBlock ? n - begin : kLossBlock;
    partial[b] = block_loss<I>(x + begin, y + begin, len, square);
  }
}
TESSERA_ISA_DISPATCH(loss_blocks, loss_blocks_impl,
                     (const float* x, const float* y, int64_t n, bool square, int64_t b0, int64_t b1,
                      double* partial),
                     (x, y, n, square, b0, b1, partial))

double loss_sum(const float* x, const float* y, int64_t n, bool square) {
  const int64_t nblk = (n + kLossBlock - 1) / kLossBlock;
  std::vector<double> partial(static_cast<size_t>(nblk));
  parallel_for(nblk, 2, [&](int64_t b0, int64_t b1) { loss_blocks(x, y, n, square, b0, b1, partial.data()); });
  double s = 0.0;
  for (double p : partial) s += p;
  return s;
}

// gx = c (x - y) (mse, c = 2 g / n) or c sign(x - y) (l1, c = g / n); gy = -gx.
template <Isa I>
TESSERA_INLINE void loss_bwd_impl(const float* __restrict x, const float* __restrict y, float c,
                                  float* __restrict gx, float* __restrict gy, int64_t n, bool square) {
  if (square) {
    if (gx) for (int64_t i = 0; i < n; ++i) gx[i] = c * (x[i] - y[i]);
    if (gy) for (int64_t i = 0; i < n; ++i) gy[i] = -(c * (x[i] - y[i]));
  } else {
    if (gx)
      for (int64_t i = 0; i < n; ++i) {
        const float d = x[i] - y[i];
        gx[i] = d > 0.0f ? c : (d < 0.0f ? -c : d * c);
      }
    if (gy)
      for (int64_t i = 0; i < n; ++i) {
        const float d = x[i] - y[i];
        gy[i] = -(d > 0.0f ? c : (d < 0.0f ? -c : d * c));
      }
  }
}
TESSERA_ISA_DISPATCH(loss_bwd, loss_bwd_impl,
                     (const float* x, const float* y, float c, float* gx, float* gy, int64_t n, bool square),
                     (x, y, c, gx, gy, n, square))

}  // namespace

double mse_sum(const float* x, const float* y, int64_t n) { return loss_sum(x, y, n, true); }
double l1_sum(const float* x, const float* y, int64_t n) { return loss_sum(x, y, n, false); }

void mse_backward(const float* x, const float* y, float g, float* gx, float* gy, int64_t n) {
  if (n == 0) return;
  const float c = float(2.0 / double(n)) * g;
  parallel_blocks(n, [&](int64_t b, int64_t e) {
    loss_bwd(x + b, y + b, c, gx ? gx + b : nullptr, gy ? gy + b : nullptr, e - b, true);
  });
}

void l1_backward(const float* x, const float* y, float g, float* gx, float* gy, int64_t n) {
  if (n == 0) return;
  const float c = g / float(n);
  parallel_blocks(n, [&](int64_t b, int64_t e) {
    loss_bwd(x + b, y + b, c, gx ? gx + b : nullptr, gy ? gy + b : nullptr, e - b, false);
  });
}

}  // namespace cpu
}  // namespace tessera
