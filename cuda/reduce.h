// cuda/reduce.h — sum and mean of contiguous f32 over a set of dims, forward and
// backward (semantics and summation order of native/ops/reduce.cpp and
// native/cpu/reduce.h).
//
//   sum:  y[k] = sum_{r} x[k, r]          gx[k, r] = g[k]
//   mean: y[k] = (sum_r x[k, r]) / R      gx[k, r] = g[k] / float(R)
// over the dims in `dims` (num_dims == 0: every dim, as the CPU op's empty list;
// negative entries count from the end; a 0-d tensor accepts 0 or -1; duplicates
// and out-of-range entries throw std::invalid_argument). R is the product of the
// reduced sizes. y holds the kept dims in order (keepdim only changes the shape the
// caller reports, not the data: reduce_output_shape). An empty reduction gives 0
// (sum) or NaN (mean). At most kMaxReduceDims dims.
//
// Order (bit-identical to the CPU, which uses only additions; deterministic, no
// atomics): the input is viewed as groups of adjacent dims (size-1 dims dropped)
// that are all reduced or all kept, and as on the CPU:
//   [K, R] / [R] rows:    rows of length >= 64 in blocks of 4096: 64 float lanes
//                         (lane l: elements l mod 64), lanes added in order in
//                         double, block sums in order in double; shorter rows: one
//                         double sum in order;
//   [R, K] / [K, R, K]:   blocks of 256 reduced rows summed in order in double per
//                         column, block sums added in order in double;
//   [R, K, R]:            row sums of the inner R as above, added over the outer R
//                         in order in double;
//   4 or more groups:     as the CPU's kept-dims-first copy: each output is the row
//                         sum (above) of its reduced elements in row-major order,
//                         read in place through strides (no copy);
// then one rounding: float(sum / double(R)) (R = 1 for sum). Partial sums go to a
// caller-provided workspace (8-byte aligned; reduce_workspace_floats).
#pragma once
#include <cstdint>
#include <vector>

#include "launch.h"

namespace tessera {
namespace cuda {

constexpr int kMaxReduceDims = 16;

// The output shape (keepdim: reduced dims stay as 1).
std::vector<int64_t> reduce_output_shape(const int64_t* shape, int ndim, const int64_t* dims, int num_dims,
                                         bool keepdim);

// Workspace (floats) that sum_forward / mean_forward need for this reduction (0 for
// many shapes).
int64_t reduce_workspace_floats(const int64_t* shape, int ndim, const int64_t* dims, int num_dims);

// out: the reduced tensor (numel = product of the kept sizes).
void sum_forward(const float* x, const int64_t* shape, int ndim, const int64_t* dims, int num_dims, float* out,
                 float* workspace, cudaStream_t stream);
void mean_forward(const float* x, const int64_t* shape, int ndim, const int64_t* dims, int num_dims, float* out,
                  float* workspace, cudaStream_t stream);

// gx (x's shape) = g broadcast over the reduced dims (/ float(R) for mean).
void sum_backward(const float* g, const int64_t* shape, int ndim, const int64_t* dims, int num_dims, float* gx,
                  cudaStream_t stream);
void mean_backward(const float* g, const int64_t* shape, int ndim, const int64_t* dims, int num_dims, float* gx,
                   cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
