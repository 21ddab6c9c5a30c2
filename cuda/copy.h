// cuda/copy.h — the data movement of the shape ops on contiguous f32 (semantics of
// native/ops/shape.cpp), forward and backward, through one strided N-d copy kernel
// family:
//
//   permute: y[i_p0, ..., i_pn] = x[i_0, ..., i_n]     gx = gy permuted by the inverse
//   slice:   y[.., j, ..] = x[.., start + j step, ..]  gx = zeros with gy scattered in
//   pad:     y = value outside, x inside (F.pad)        gx = the inner block of gy
//   concat:  y = [x0 | x1 | ...] along dim              gxk = the k-th block of gy
//   reshape: no kernel. Inputs are contiguous (the ops make them so), and a
//            contiguous tensor reshaped is the same buffer with a new shape; the
//            backward is the same (gy's buffer read with x's shape; the CPU clones
//            it, a device-to-device memcpy if a fresh buffer is wanted).
//
// Every kernel runs one thread per output element with consecutive threads on
// consecutive output elements (coalesced writes; every output element written
// exactly once, including the zeros / pad value, so no memset is needed). Index
// math: 64-bit offsets, 32-bit division when the output has < 2^32 elements. Dims
// that are contiguous in both source and destination are merged and size-1 dims
// dropped first, as on the CPU. A permute whose innermost output dim is strided in
// the source (and some other dim is contiguous there) goes through 32 x 32
// shared-memory tiles so that reads are coalesced as well.
//
// Dims: negative dims count from the end; invalid arguments (dims out of range,
// repeated, a bad step, odd / too many / negative pads, mismatched shapes, more
// than kMaxCopyDims dims) throw std::invalid_argument naming the value and the rule.
#pragma once
#include <cstdint>
#include <vector>

#include "launch.h"

namespace tessera {
namespace cuda {

constexpr int kMaxCopyDims = 16;
constexpr int64_t kSliceEnd = INT64_MAX;  // slice `end` meaning "to the end" (the op's absent end)

// dst[sum_d i_d dst_strides[d]] = src[sum_d i_d src_strides[d]] for every index i of
// `shape` (strides in elements; destinations must not overlap).
void strided_copy(const float* src, const int64_t* src_strides, float* dst, const int64_t* dst_strides,
                  const int64_t* shape, int ndim, cudaStream_t stream);

// permute: dims lists every dim of x once (y's dim i is x's dim dims[i]).
std::vector<int64_t> permute_output_shape(const int64_t* x_shape, int ndim, const int64_t* dims);
void permute_forward(const float* x, const int64_t* x_shape, int ndim, const int64_t* dims, float* y,
                     cudaStream_t stream);
// gy has the permuted shape; gx gets x's shape.
void permute_backward(const float* gy, const int64_t* x_shape, int ndim, const int64_t* dims, float* gx,
                      cudaStream_t stream);

// slice x[start:end:step] along dim (Python bounds: negative start / end count from
// the end, then clamp to [0, size]; step >= 1; end = kSliceEnd for "to the end").
// y's size along dim: count = end > start ? ceil((end - start) / step) : 0.
std::vector<int64_t> slice_output_shape(const int64_t* x_shape, int ndim, int64_t dim, int64_t start, int64_t end,
                                        int64_t step);
void slice_forward(const float* x, const int64_t* x_shape, int ndim, int64_t dim, int64_t start, int64_t end,
                   int64_t step, float* y, cudaStream_t stream);
// gx (x's shape): gy at positions start + j step along dim, 0 elsewhere.
void slice_backward(const float* gy, const int64_t* x_shape, int ndim, int64_t dim, int64_t start, int64_t end,
                    int64_t step, float* gx, cudaStream_t stream);

// pad: pads = [before_last, after_last, before_2nd_last, after_2nd_last, ...] (F.pad
// order; an even count <= 2 ndim, entries >= 0).
std::vector<int64_t> pad_output_shape(const int64_t* x_shape, int ndim, const int64_t* pads, int num_pads);
void pad_forward(const float* x, const int64_t* x_shape, int ndim, const int64_t* pads, int num_pads, float value,
                 float* y, cudaStream_t stream);
// gx (x's shape) = the block of gy (the padded shape) that x occupied.
void pad_backward(const float* gy, const int64_t* x_shape, int ndim, const int64_t* pads, int num_pads, float* gx,
                  cudaStream_t stream);

// concat along dim of num_inputs contiguous inputs: input k has `shape` except along
// dim, where it has dim_sizes[k] (shape[dim] itself is ignored). y's size along dim
// is the sum of dim_sizes.
void concat_forward(const float* const* xs, int num_inputs, const int64_t* shape, int ndim,
                    const int64_t* dim_sizes, int64_t dim, float* y, cudaStream_t stream);
// gxs[k] (input k's shape) = gy's k-th block along dim; a null gxs[k] is skipped.
void concat_backward(const float* gy, int num_inputs, const int64_t* shape, int ndim, const int64_t* dim_sizes,
                     int64_t dim, float* const* gxs, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
