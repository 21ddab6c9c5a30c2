// Sum / mean reductions on contiguous f32 (the `sum` and `mean` ops).
//
// Every reduction has a fixed summation order that depends only on the shapes,
// never on the thread count, and the same order on every instruction set (only
// additions, no FMA), so results are bit-identical for any TESSERA_THREADS and
// TESSERA_ISA.
#pragma once
#include <cstdint>
#include <vector>

namespace tessera {
namespace cpu {

// out[r] = (sum_{j < len} x[r, j]) / divisor, x viewed as [rows, len].
// Order: fixed blocks of 4096 elements; inside a block 64 float lanes
// (lane k sums elements j = k mod 64), lanes added in order in double; block
// sums added in order in double; one rounding to float at the end.
void sum_rows_forward(const float* x, float* out, int64_t rows, int64_t len, double divisor);

// out[k] = (sum_{o < outer} rowsum(x[o, k, :])) / divisor, x viewed as [outer, mid, inner]
// (e.g. a bias gradient). rowsum is the row order above; rows are added in o order in double.
void sum_outer_inner_forward(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner,
                             double divisor);

// out[o, i] = (sum_{r < len} x[o, r, i]) / divisor, x viewed as [outer, len, inner].
// Order: fixed blocks of 256 r in double, block sums added in order in double.
void sum_middle_forward(const float* x, float* out, int64_t outer, int64_t len, int64_t inner, double divisor);

// Backward of a reduction (broadcast): x's shape is given as groups of
// dimensions `sizes` with `reduced[k]` saying whether group k was reduced;
// g holds the kept groups in order (contiguous).
//   gx[idx] = g[kept part of idx] / divisor   (divisor 1 for sum, the count for mean)
void sum_broadcast_backward(const float* g, float* gx, const std::vector<int64_t>& sizes,
                            const std::vector<bool>& reduced, float divisor);

}  // namespace cpu
}  // namespace tessera
