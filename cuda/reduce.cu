// cuda/reduce.cu — sum / mean over dims (forward) and the broadcast that is their
// backward.
//
// Forward kernels (the CPU's cases and order, see reduce.h):
//   * row_block_kernel: 4 teams of 64 threads per block; a team owns one (row,
//     4096-element block) task, thread l is float lane l (elements l, l + 64, ...:
//     a team reads 256 contiguous bytes per step); lanes meet in shared memory and
//     the team's first thread adds them in lane order in double. The result is the
//     output (one block per row) or a partial sum in the workspace.
//   * row_short_kernel: rows shorter than 64, one thread per row, double sum.
//   * combine_kernel: out[k] = (sum_o (sum_b P[o, k, b])) / divisor, in order.
//   * middle_kernel: [outer, len, inner] with len reduced: one thread per
//     (o, 256-row block, i) (consecutive threads: consecutive i, coalesced), double
//     sum over its rows in order; middle_combine_kernel adds the blocks in order.
// The 4-or-more-group case reads rows through strides (kept groups -> row offset,
// reduced groups -> element offset) instead of the CPU's permuted copy; the order
// of the additions is the same.
// Backward: one thread per gx element (consecutive threads write consecutive
// elements), g read at the element's kept coordinates.
#include "reduce.h"
#include "check.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = kMaxReduceDims;
constexpr int64_t kMaxGrid = int64_t(1) << 18;

// The CPU's constants (native/cpu/reduce.cpp).
constexpr int64_t kRowBlock = 4096;
constexpr int kLanes = 64;
constexpr int64_t kMiddleBlock = 256;
constexpr int kTeams = kThreads / kLanes;

using Shape = std::vector<int64_t>;

// Groups of dims, innermost first: sizes and strides (elements).
struct Walk {
  int n;
  int64_t size[kMaxDims];
  int64_t stride[kMaxDims];
};

template <class Idx>
__device__ __forceinline__ int64_t walk_offset(const Walk& w, Idx flat) {
  int64_t off = 0;
#pragma unroll
  for (int k = 0; k < kMaxDims; ++k) {
    if (k == w.n) break;
    Idx i;
    if (k == w.n - 1) {
      i = flat;
    } else {
      const Idx s = Idx(w.size[k]);
      const Idx q = flat / s;
      i = flat - q * s;
      flat = q;
    }
    off += int64_t(i) * w.stride[k];
  }
  return off;
}

// Element j of row r: contiguous rows (x + r len + j) or through the walks.
template <bool kStrided>
__device__ __forceinline__ const float* row_ptr(const float* x, int64_t r, int64_t len, const Walk& kept) {
  return kStrided ? x + walk_offset<uint64_t>(kept, uint64_t(r)) : x + r * len;
}
template <bool kStrided>
__device__ __forceinline__ float row_elem(const float* xr, int64_t j, const Walk& red) {
  return kStrided ? xr[walk_offset<uint64_t>(red, uint64_t(j))] : xr[j];
}

// Task t = r nb + b (row r, block b of 4096 elements):
//   lane l: L_l = sum_{j in block, j = l mod 64, ascending} x[r, j]   (float)
//   s = sum_{l = 0..63} double(L_l)
//   out ? out[r] = float(s / divisor) (nb == 1) : partial[t] = s
template <bool kStrided>
__global__ void row_block_kernel(const float* __restrict__ x, int64_t rows, int64_t len, int64_t nb, Walk kept,
                                 Walk red, float* __restrict__ out, double* __restrict__ partial, double divisor) {
  TESSERA_SHARED(float, lanes, kThreads);
  const int team = threadIdx.x / kLanes, l = threadIdx.x % kLanes;
  const int64_t tasks = rows * nb;
  // uniform over the block (every thread reaches the barriers)
  for (int64_t t0 = int64_t(blockIdx.x) * kTeams; t0 < tasks; t0 += int64_t(gridDim.x) * kTeams) {
    const int64_t t = t0 + team;
    const bool valid = t < tasks;
    int64_t r = 0;
    float acc = 0.0f;
    if (valid) {
      r = t / nb;
      const int64_t begin = (t - r * nb) * kRowBlock;
      const int64_t n = len - begin < kRowBlock ? len - begin : kRowBlock;
      const float* xr = row_ptr<kStrided>(x, r, len, kept);
      for (int64_t j = l; j < n; j += kLanes) acc += row_elem<kStrided>(xr, begin + j, red);
    }
    lanes[threadIdx.x] = acc;
    __syncthreads();
    if (valid && l == 0) {
      double s = 0.0;
      for (int k = 0; k < kLanes; ++k) s += double(lanes[team * kLanes + k]);
      if (out) out[r] = float(s / divisor);
      else partial[t] = s;
    }
    __syncthreads();  // lanes is rewritten by the next iteration
  }
}

// Rows shorter than 64: s = sum_{j ascending} double(x[r, j]);
//   out ? out[r] = float(s / divisor) : partial[r] = s
template <bool kStrided>
__global__ void row_short_kernel(const float* __restrict__ x, int64_t rows, int64_t len, Walk kept, Walk red,
                                 float* __restrict__ out, double* __restrict__ partial, double divisor) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    const float* xr = row_ptr<kStrided>(x, r, len, kept);
    double s = 0.0;
    for (int64_t j = 0; j < len; ++j) s += double(row_elem<kStrided>(xr, j, red));
    if (out) out[r] = float(s / divisor);
    else partial[r] = s;
  }
}

// out[k] = float((sum_{o < outer} (sum_{b < nb} P[(o mid + k) nb + b])) / divisor), all in order
__global__ void combine_kernel(const double* __restrict__ P, float* __restrict__ out, int64_t outer, int64_t mid,
                               int64_t nb, double divisor) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < mid; k += stride) {
    double s = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      double rs = 0.0;
      for (int64_t b = 0; b < nb; ++b) rs += P[(o * mid + k) * nb + b];
      s += rs;
    }
    out[k] = float(s / divisor);
  }
}

// x [outer, len, inner], t = (o nrb + rb) inner + i:
//   acc = sum_{r in [256 rb, min(len, 256 rb + 256)), ascending} double(x[o, r, i])
//   nrb == 1: out[o inner + i] = float(acc / divisor); else partial[t] = acc
__global__ void middle_kernel(const float* __restrict__ x, int64_t outer, int64_t len, int64_t inner, int64_t nrb,
                              float* __restrict__ out, double* __restrict__ partial, double divisor) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t total = outer * nrb * inner;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t q = t / inner, i = t - q * inner;
    const int64_t o = q / nrb, rb = q - o * nrb;
    const int64_t r0 = rb * kMiddleBlock, r1 = r0 + kMiddleBlock < len ? r0 + kMiddleBlock : len;
    const float* xp = x + o * len * inner + i;
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) acc += double(xp[r * inner]);
    if (nrb == 1) out[o * inner + i] = float(acc / divisor);
    else partial[t] = acc;
  }
}

// out[o inner + i] = float((sum_{rb ascending} partial[(o nrb + rb) inner + i]) / divisor)
__global__ void middle_combine_kernel(const double* __restrict__ partial, float* __restrict__ out, int64_t outer,
                                      int64_t nrb, int64_t inner, double divisor) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < outer * inner; e += stride) {
    const int64_t o = e / inner, i = e - o * inner;
    double s = 0.0;
    for (int64_t rb = 0; rb < nrb; ++rb) s += partial[(o * nrb + rb) * inner + i];
    out[e] = float(s / divisor);
  }
}

// out[i] = v
__global__ void fill_kernel(float* __restrict__ out, int64_t n, float v) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = v;
}

// gx[i] = g[kept(i)] (/ divisor when divide), kept(i) = sum over groups of i_k gstride_k
// (gstride 0 for reduced groups)
template <class Idx>
__global__ void broadcast_kernel(const float* __restrict__ g, float* __restrict__ gx, Walk w, int64_t n,
                                 float divisor, bool divide) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = g[walk_offset<Idx>(w, Idx(i))];
    gx[i] = divide ? v / divisor : v;
  }
}

// ---- host side ---------------------------------------------------------------

unsigned grid_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxGrid)));
}

std::string shape_text(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// native/ops/reduce.cpp's plan_reduce.
struct Plan {
  Shape shape;
  std::vector<bool> reduced_dim;
  int64_t count = 1, x_numel = 1, out_numel = 1;
  Shape groups;
  std::vector<bool> group_reduced;
};

Plan plan_reduce(const char* fn, const int64_t* shape, int ndim, const int64_t* dims, int num_dims) {
  if (ndim < 0 || ndim > kMaxDims)
    throw std::invalid_argument(std::string(fn) + ": ndim = " + std::to_string(ndim) + "; 0 to " +
                                std::to_string(kMaxDims) + " dims are supported");
  if (num_dims < 0)
    throw std::invalid_argument(std::string(fn) + ": num_dims = " + std::to_string(num_dims) + " must be >= 0");
  if ((ndim > 0 && !shape) || (num_dims > 0 && !dims))
    throw std::invalid_argument(std::string(fn) + ": shape / dims pointer is null");
  Plan p;
  p.shape.assign(shape, shape + ndim);
  for (int d = 0; d < ndim; ++d)
    if (p.shape[size_t(d)] < 0)
      throw std::invalid_argument(std::string(fn) + ": shape " + shape_text(p.shape) + " has size " +
                                  std::to_string(p.shape[size_t(d)]) + " in dim " + std::to_string(d) +
                                  " (sizes must be >= 0)");
  p.reduced_dim.assign(size_t(ndim), num_dims == 0);
  const int rank = std::max(ndim, 1);  // a 0-d tensor accepts dim 0 or -1
  std::vector<bool> seen(size_t(rank), false);
  for (int i = 0; i < num_dims; ++i) {
    const int64_t d = dims[i];
    if (d < -rank || d >= rank)
      throw std::invalid_argument(std::string(fn) + ": dims entry " + std::to_string(d) + " is out of range for a " +
                                  std::to_string(ndim) + "-d tensor (must be in [" + std::to_string(-rank) + ", " +
                                  std::to_string(rank - 1) + "])");
    const int64_t dd = d < 0 ? d + rank : d;
    if (seen[size_t(dd)])
      throw std::invalid_argument(std::string(fn) + ": dim " + std::to_string(d) + " appears more than once in dims");
    seen[size_t(dd)] = true;
    if (ndim > 0) p.reduced_dim[size_t(dd)] = true;
  }
  for (int d = 0; d < ndim; ++d) {
    const int64_t s = p.shape[size_t(d)];
    p.x_numel *= s;
    if (p.reduced_dim[size_t(d)]) p.count *= s;
    else p.out_numel *= s;
    if (s == 1) continue;
    const bool r = p.reduced_dim[size_t(d)];
    if (!p.groups.empty() && p.group_reduced.back() == r) {
      p.groups.back() *= s;
    } else {
      p.groups.push_back(s);
      p.group_reduced.push_back(r);
    }
  }
  return p;
}

// One forward launch sequence (the CPU's dispatch in reduce_forward).
struct FwdPlan {
  enum Kind { Nothing, Fill, Rows, Middle, OuterInner } kind = Nothing;
  // Rows: rows x len (strided: through kept / red); OuterInner: rows = outer * mid of len inner.
  int64_t rows = 0, len = 0, nb = 1;
  bool strided = false;
  Walk kept{}, red{};
  int64_t outer = 1, mid = 1, inner = 1, nrb = 1;  // Middle: [outer, len, inner]; OuterInner: outer, mid
  int64_t ws_doubles = 0;
};

int64_t row_blocks(int64_t len) { return len < kLanes ? 1 : (len + kRowBlock - 1) / kRowBlock; }

FwdPlan plan_forward(const Plan& p) {
  FwdPlan f;
  if (p.out_numel == 0) return f;
  if (p.x_numel == 0) {
    f.kind = FwdPlan::Fill;
    return f;
  }
  const Shape& g = p.groups;
  const auto& gr = p.group_reduced;
  const size_t ng = g.size();
  auto rows = [&](int64_t r, int64_t l) {
    f.kind = FwdPlan::Rows;
    f.rows = r;
    f.len = l;
    f.nb = row_blocks(l);
    f.ws_doubles = f.nb > 1 ? r * f.nb : 0;
  };
  if (ng == 0 || (ng == 1 && !gr[0])) {
    rows(p.x_numel, 1);
  } else if (ng == 1) {
    rows(1, g[0]);
  } else if (ng == 2 && !gr[0]) {
    rows(g[0], g[1]);
  } else if (ng == 2 || (ng == 3 && !gr[0])) {
    f.kind = FwdPlan::Middle;
    f.outer = ng == 2 ? 1 : g[0];
    f.len = ng == 2 ? g[0] : g[1];
    f.inner = ng == 2 ? g[1] : g[2];
    f.nrb = (f.len + kMiddleBlock - 1) / kMiddleBlock;
    f.ws_doubles = f.nrb > 1 ? f.outer * f.nrb * f.inner : 0;
  } else if (ng == 3) {
    f.kind = FwdPlan::OuterInner;
    f.outer = g[0];
    f.mid = g[1];
    f.len = g[2];
    f.rows = g[0] * g[1];
    f.nb = row_blocks(f.len);
    f.ws_doubles = f.rows * f.nb;
  } else {
    // Kept groups -> row, reduced groups -> element, both row-major, read in place.
    Shape stride(ng, 0);
    int64_t acc = 1;
    for (size_t k = ng; k-- > 0;) {
      stride[k] = acc;
      acc *= g[k];
    }
    int64_t kept_rows = 1;
    for (size_t k = ng; k-- > 0;) {
      Walk& w = gr[k] ? f.red : f.kept;
      w.size[w.n] = g[k];
      w.stride[w.n] = stride[k];
      ++w.n;
      if (!gr[k]) kept_rows *= g[k];
    }
    rows(kept_rows, p.count);
    f.strided = true;
  }
  return f;
}

void run_forward(const char* fn, const float* x, const int64_t* shape, int ndim, const int64_t* dims, int num_dims,
                 float* out, float* workspace, bool mean, cudaStream_t stream) {
  const Plan p = plan_reduce(fn, shape, ndim, dims, num_dims);
  const FwdPlan f = plan_forward(p);
  if (f.kind == FwdPlan::Nothing) return;
  if (!out) throw std::invalid_argument(std::string(fn) + ": out must be a non-null device pointer");
  if (f.kind == FwdPlan::Fill) {  // empty reduction: 0 for sum, NaN for mean
    TESSERA_LAUNCH(fill_kernel, grid_for(p.out_numel), kThreads, 0, stream)(
        out, p.out_numel, mean ? std::numeric_limits<float>::quiet_NaN() : 0.0f);
    TESSERA_CUDA_CHECK_LAUNCH();
    return;
  }
  if (!x) throw std::invalid_argument(std::string(fn) + ": x must be a non-null device pointer");
  if (f.ws_doubles > 0) {
    if (!workspace)
      throw std::invalid_argument(std::string(fn) + ": workspace is null but reducing " + shape_text(p.shape) +
                                  " needs " + std::to_string(2 * f.ws_doubles) +
                                  " floats (reduce_workspace_floats)");
    if (reinterpret_cast<uintptr_t>(workspace) % alignof(double) != 0)
      throw std::invalid_argument(std::string(fn) + ": workspace must be 8-byte aligned (it holds doubles)");
  }
  double* ws = reinterpret_cast<double*>(workspace);
  const double divisor = mean ? double(p.count) : 1.0;
  switch (f.kind) {
    case FwdPlan::Rows:
    case FwdPlan::OuterInner: {
      // Rows with one block write the output directly; otherwise partial sums.
      const bool direct = f.kind == FwdPlan::Rows && f.nb == 1;
      float* o = direct ? out : nullptr;
      if (f.len < kLanes) {
        if (f.strided)
          TESSERA_LAUNCH(row_short_kernel<true>, grid_for(f.rows), kThreads, 0, stream)(x, f.rows, f.len, f.kept,
                                                                                        f.red, o, ws, divisor);
        else
          TESSERA_LAUNCH(row_short_kernel<false>, grid_for(f.rows), kThreads, 0, stream)(x, f.rows, f.len, f.kept,
                                                                                         f.red, o, ws, divisor);
      } else {
        const int64_t tasks = f.rows * f.nb;
        const unsigned grid = unsigned(std::min<int64_t>((tasks + kTeams - 1) / kTeams, kMaxGrid));
        if (f.strided)
          TESSERA_LAUNCH(row_block_kernel<true>, grid, kThreads, 0, stream)(x, f.rows, f.len, f.nb, f.kept, f.red, o,
                                                                            ws, divisor);
        else
          TESSERA_LAUNCH(row_block_kernel<false>, grid, kThreads, 0, stream)(x, f.rows, f.len, f.nb, f.kept, f.red,
                                                                             o, ws, divisor);
      }
      TESSERA_CUDA_CHECK_LAUNCH();
      if (!direct) {
        const int64_t outer = f.kind == FwdPlan::OuterInner ? f.outer : 1;
        const int64_t mid = f.kind == FwdPlan::OuterInner ? f.mid : f.rows;
        TESSERA_LAUNCH(combine_kernel, grid_for(mid), kThreads, 0, stream)(ws, out, outer, mid, f.nb, divisor);
        TESSERA_CUDA_CHECK_LAUNCH();
      }
      return;
    }
    case FwdPlan::Middle:
      TESSERA_LAUNCH(middle_kernel, grid_for(f.outer * f.nrb * f.inner), kThreads, 0, stream)(
          x, f.outer, f.len, f.inner, f.nrb, out, ws, divisor);
      TESSERA_CUDA_CHECK_LAUNCH();
      if (f.nrb > 1) {
        TESSERA_LAUNCH(middle_combine_kernel, grid_for(f.outer * f.inner), kThreads, 0, stream)(
            ws, out, f.outer, f.nrb, f.inner, divisor);
        TESSERA_CUDA_CHECK_LAUNCH();
      }
      return;
    default:
      return;
  }
}

void run_backward(const char* fn, const float* g, const int64_t* shape, int ndim, const int64_t* dims, int num_dims,
                  float* gx, bool mean, cudaStream_t stream) {
  const Plan p = plan_reduce(fn, shape, ndim, dims, num_dims);
  if (p.x_numel == 0) return;
  if (!g || !gx) throw std::invalid_argument(std::string(fn) + ": g and gx must be non-null device pointers");
  // PyTorch divides by the count as an integer-valued float (grad / N).
  const float divisor = mean ? float(p.count) : 1.0f;
  Walk w{};
  int64_t acc = 1;
  for (size_t k = p.groups.size(); k-- > 0;) {
    w.size[w.n] = p.groups[k];
    w.stride[w.n] = p.group_reduced[k] ? 0 : acc;
    if (!p.group_reduced[k]) acc *= p.groups[k];
    ++w.n;
  }
  const bool divide = divisor != 1.0f;
  if (p.x_numel <= int64_t(UINT32_MAX))
    TESSERA_LAUNCH(broadcast_kernel<uint32_t>, grid_for(p.x_numel), kThreads, 0, stream)(g, gx, w, p.x_numel,
                                                                                         divisor, divide);
  else
    TESSERA_LAUNCH(broadcast_kernel<uint64_t>, grid_for(p.x_numel), kThreads, 0, stream)(g, gx, w, p.x_numel,
                                                                                         divisor, divide);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::vector<int64_t> reduce_output_shape(const int64_t* shape, int ndim, const int64_t* dims, int num_dims,
                                         bool keepdim) {
  const Plan p = plan_reduce("reduce_output_shape", shape, ndim, dims, num_dims);
  std::vector<int64_t> out;
  for (int d = 0; d < ndim; ++d) {
    if (!p.reduced_dim[size_t(d)]) out.push_back(p.shape[size_t(d)]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

int64_t reduce_workspace_floats(const int64_t* shape, int ndim, const int64_t* dims, int num_dims) {
  return 2 * plan_forward(plan_reduce("reduce_workspace_floats", shape, ndim, dims, num_dims)).ws_doubles;
}

void sum_forward(const float* x, const int64_t* shape, int ndim, const int64_t* dims, int num_dims, float* out,
                 float* workspace, cudaStream_t stream) {
  run_forward("sum_forward", x, shape, ndim, dims, num_dims, out, workspace, false, stream);
}

void mean_forward(const float* x, const int64_t* shape, int ndim, const int64_t* dims, int num_dims, float* out,
                  float* workspace, cudaStream_t stream) {
  run_forward("mean_forward", x, shape, ndim, dims, num_dims, out, workspace, true, stream);
}

void sum_backward(const float* g, const int64_t* shape, int ndim, const int64_t* dims, int num_dims, float* gx,
                  cudaStream_t stream) {
  run_backward("sum_backward", g, shape, ndim, dims, num_dims, gx, false, stream);
}

void mean_backward(const float* g, const int64_t* shape, int ndim, const int64_t* dims, int num_dims, float* gx,
                   cudaStream_t stream) {
  run_backward("mean_backward", g, shape, ndim, dims, num_dims, gx, true, stream);
}

}  // namespace cuda
}  // namespace tessera
