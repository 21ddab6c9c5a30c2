// Sum / mean reductions: forward kernels and the broadcast that is their backward.
//
//   sum:  y[k] = sum_{r in reduced positions} x[k, r]        dL/dx[k, r] = dL/dy[k]
//   mean: y[k] = (sum_r x[k, r]) / R                         dL/dx[k, r] = dL/dy[k] / R
//
// Determinism: the summation order is a function of the shape alone (fixed
// blocks, partial sums combined in block order), so any thread count and any
// instruction set give the same bits.
#include "cpu/reduce.h"

#include <algorithm>
#include <cstring>

#include "core/cpu_features.h"
#include "core/threadpool.h"

namespace tessera {
namespace cpu {

namespace {

constexpr int64_t kRowBlock = 4096;   // elements per block of a row reduction
constexpr int kLanes = 64;            // float accumulators inside a block
constexpr int64_t kMiddleBlock = 256; // rows per block of a middle-axis reduction
constexpr int64_t kInnerChunk = 256;  // columns per task of a middle-axis reduction

// Sum of n <= kRowBlock floats: lane k accumulates x[j] for j = k (mod 64) in
// float, then the 64 lanes are added in order in double.
template <Isa I>
TESSERA_INLINE double block_sum(const float* __restrict x, int64_t n) {
  float acc[kLanes];
  for (int k = 0; k < kLanes; ++k) acc[k] = 0.0f;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += x[j + k];
  for (int k = 0; j + k < n; ++k) acc[k] += x[j + k];
  double s = 0.0;
  for (int k = 0; k < kLanes; ++k) s += double(acc[k]);
  return s;
}

// Task t = (row r, block b): partial[t] = sum of block b of row r.
template <Isa I>
TESSERA_INLINE void row_partials_impl(const float* x, int64_t len, int64_t nblocks, int64_t t0, int64_t t1,
                                      double* partial) {
  for (int64_t t = t0; t < t1; ++t) {
    int64_t r = t / nblocks, b = t % nblocks;
    int64_t begin = b * kRowBlock;
    partial[t] = block_sum<I>(x + r * len + begin, std::min(kRowBlock, len - begin));
  }
}
TESSERA_ISA_DISPATCH(row_partials, row_partials_impl,
                     (const float* x, int64_t len, int64_t nblocks, int64_t t0, int64_t t1, double* partial),
                     (x, len, nblocks, t0, t1, partial))

// acc[i] = sum_{r in [r0, r1)} x[r * inner + i] for i < n, in double, r in order.
template <Isa I>
TESSERA_INLINE void middle_block_impl(const float* x, int64_t inner, int64_t r0, int64_t r1, int64_t n,
                                      double* acc) {
  double* __restrict a = acc;
  for (int64_t i = 0; i < n; ++i) a[i] = 0.0;
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict row = x + r * inner;
    for (int64_t i = 0; i < n; ++i) a[i] += double(row[i]);
  }
}
TESSERA_ISA_DISPATCH(middle_block, middle_block_impl,
                     (const float* x, int64_t inner, int64_t r0, int64_t r1, int64_t n, double* acc),
                     (x, inner, r0, r1, n, acc))

}  // namespace

// rowsum[r] = sum of row r of x [rows, len] in the fixed order described in reduce.h.
static std::vector<double> row_sums(const float* x, int64_t rows, int64_t len) {
  std::vector<double> sums(static_cast<size_t>(rows));
  if (len < kLanes) {
    // Short rows: one plain double accumulation per row.
    parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        double s = 0.0;
        for (int64_t j = 0; j < len; ++j) s += double(x[r * len + j]);
        sums[size_t(r)] = s;
      }
    });
    return sums;
  }
  const int64_t nblocks = (len + kRowBlock - 1) / kRowBlock;
  const int64_t grain = std::max<int64_t>(1, 4 * kRowBlock / std::min(len, kRowBlock));
  if (nblocks == 1) {
    parallel_for(rows, grain, [&](int64_t t0, int64_t t1) { row_partials(x, len, 1, t0, t1, sums.data()); });
    return sums;
  }
  std::vector<double> partial(size_t(rows * nblocks));
  parallel_for(rows * nblocks, grain,
               [&](int64_t t0, int64_t t1) { row_partials(x, len, nblocks, t0, t1, partial.data()); });
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0.0;
    for (int64_t b = 0; b < nblocks; ++b) s += partial[size_t(r * nblocks + b)];
    sums[size_t(r)] = s;
  }
  return sums;
}

void sum_rows_forward(const float* x, float* out, int64_t rows, int64_t len, double divisor) {
  if (rows <= 0) return;
  std::vector<double> sums = row_sums(x, rows, len);
  for (int64_t r = 0; r < rows; ++r) out[r] = float(sums[size_t(r)] / divisor);
}

void sum_outer_inner_forward(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner,
                             double divisor) {
  if (mid <= 0) return;
  std::vector<double> sums = row_sums(x, outer * mid, inner);
  for (int64_t k = 0; k < mid; ++k) {
    double s = 0.0;
    for (int64_t o = 0; o < outer; ++o) s += sums[size_t(o * mid + k)];
    out[k] = float(s / divisor);
  }
}

void sum_middle_forward(const float* x, float* out, int64_t outer, int64_t len, int64_t inner, double divisor) {
  if (outer <= 0 || inner <= 0) return;
  if (len <= 0) {
    for (int64_t i = 0; i < outer * inner; ++i) out[i] = float(0.0 / divisor);
    return;
  }
  const int64_t nrb = (len + kMiddleBlock - 1) / kMiddleBlock;
  const int64_t nchunks = (inner + kInnerChunk - 1) / kInnerChunk;
  // partial[(o * nrb + rb) * inner + i]: the sum of block rb (only kept when nrb > 1).
  std::vector<double> partial(nrb > 1 ? size_t(outer * nrb * inner) : 0);
  const int64_t tasks = outer * nrb * nchunks;
  const int64_t work_per_task = std::min(len, kMiddleBlock) * std::min(inner, kInnerChunk);
  parallel_for(tasks, std::max<int64_t>(1, 32768 / work_per_task), [&](int64_t t0, int64_t t1) {
    double acc[kInnerChunk];
    for (int64_t t = t0; t < t1; ++t) {
      int64_t c = t % nchunks, rb = (t / nchunks) % nrb, o = t / (nchunks * nrb);
      int64_t i0 = c * kInnerChunk, n = std::min(kInnerChunk, inner - i0);
      int64_t r0 = rb * kMiddleBlock, r1 = std::min(len, r0 + kMiddleBlock);
      middle_block(x + o * len * inner + i0, inner, r0, r1, n, acc);
      if (nrb == 1) {
        for (int64_t i = 0; i < n; ++i) out[o * inner + i0 + i] = float(acc[i] / divisor);
      } else {
        double* p = partial.data() + (o * nrb + rb) * inner + i0;
        std::memcpy(p, acc, size_t(n) * sizeof(double));
      }
    }
  });
  if (nrb == 1) return;
  parallel_for(outer * inner, 4096, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      int64_t o = e / inner, i = e % inner;
      double s = 0.0;
      for (int64_t rb = 0; rb < nrb; ++rb) s += partial[size_t((o * nrb + rb) * inner + i)];
      out[e] = float(s / divisor);
    }
  });
}

void sum_broadcast_backward(const float* g, float* gx, const std::vector<int64_t>& sizes,
                            const std::vector<bool>& reduced, float divisor) {
  const int n = int(sizes.size());
  if (n == 0) {
    gx[0] = g[0] / divisor;
    return;
  }
  for (int64_t s : sizes)
    if (s == 0) return;
  // Strides of g over the groups (0 for reduced groups).
  std::vector<int64_t> gstride(size_t(n), 0);
  int64_t acc = 1;
  for (int k = n - 1; k >= 0; --k) {
    if (!reduced[size_t(k)]) {
      gstride[size_t(k)] = acc;
      acc *= sizes[size_t(k)];
    }
  }
  const int64_t len = sizes[size_t(n - 1)];
  const bool last_reduced = reduced[size_t(n - 1)];
  int64_t rows = 1;
  for (int k = 0; k < n - 1; ++k) rows *= sizes[size_t(k)];
  parallel_for(rows, std::max<int64_t>(1, 16384 / len), [&](int64_t r0, int64_t r1) {
    // Odometer over the leading groups, started at row r0.
    std::vector<int64_t> idx(size_t(std::max(n - 1, 1)), 0);
    int64_t goff = 0, rem = r0;
    for (int k = n - 2; k >= 0; --k) {
      idx[size_t(k)] = rem % sizes[size_t(k)];
      rem /= sizes[size_t(k)];
      goff += idx[size_t(k)] * gstride[size_t(k)];
    }
    for (int64_t r = r0; r < r1; ++r) {
      float* __restrict dst = gx + r * len;
      if (last_reduced) {
        const float v = g[goff] / divisor;
        for (int64_t j = 0; j < len; ++j) dst[j] = v;
      } else if (divisor == 1.0f) {
        std::memcpy(dst, g + goff, size_t(len) * sizeof(float));
      } else {
        const float* __restrict src = g + goff;
        for (int64_t j = 0; j < len; ++j) dst[j] = src[j] / divisor;
      }
      for (int k = n - 2; k >= 0; --k) {
        goff += gstride[size_t(k)];
        if (++idx[size_t(k)] < sizes[size_t(k)]) break;
        goff -= idx[size_t(k)] * gstride[size_t(k)];
        idx[size_t(k)] = 0;
      }
    }
  });
}

}  // namespace cpu
}  // namespace tessera
