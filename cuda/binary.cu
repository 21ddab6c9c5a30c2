// cuda/binary.cu — broadcasting add / sub / mul and scale (forward + backward).
//
// Forward: one thread per output element (grid-stride, consecutive threads write
// consecutive outputs); the flat index is split over the merged dims (innermost
// first, 32-bit division when the output has < 2^32 elements; the outermost dim
// needs none) into an offset per input.
//
// Backward of a broadcast input (the CPU's reduce_broadcast_grad, same order):
//   * last merged dim kept: one thread per (gradient element, row block); it adds
//     double(g * other) over its block of reduced rows in row-major order; when the
//     CPU splits the reduced rows into blocks (fewer than 64 tasks) the block sums
//     go to the workspace and a second kernel adds them in block order.
//   * last merged dim reduced: pass 1, one half-warp per 256-element segment of
//     the last dim: lane l sums elements j = l (mod 16) in float (fmaf for mul),
//     lane 0 adds the 16 lane sums in lane order in double (x other[0] when the
//     other operand is broadcast along the last dim) -> workspace; pass 2, one
//     thread per (gradient element, block of segments) adds its segment sums in
//     order in double; pass 3 (blocked plans) adds the block sums in order.
// All partial sums live in the caller's workspace; no atomics, so the result is
// the same for every schedule and equal to the CPU's (see binary.h for mul).
#include "binary.h"
#include "check.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = kMaxBroadcastDims;
constexpr int64_t kMaxGrid = int64_t(1) << 18;  // grid-stride kernels: blocks at most

// The CPU's reduction constants (native/cpu/elementwise.cpp).
constexpr int64_t kGrainElems = 32768;
constexpr int64_t kColChunk = 1024;
constexpr int64_t kSegment = 256;
constexpr int64_t kSegmentsPerBlock = 128;
constexpr int64_t kFewTasks = 64;
constexpr int kLanes = 16;
constexpr int kSegsPerBlock = kThreads / kLanes;  // pass 1: one half-warp per segment

using Shape = std::vector<int64_t>;

// Merged broadcast layout, innermost dim first (index 0), as the kernels walk it.
struct BDims {
  int nd;
  int64_t size[kMaxDims];
  int64_t sa[kMaxDims];  // stride in a (0 where broadcast)
  int64_t sb[kMaxDims];  // stride in b
};

// A walk over some of the merged dims (innermost first): stride in the output
// gradient g and in the other operand.
struct Walk {
  int n;
  int64_t size[kMaxDims];
  int64_t gs[kMaxDims];
  int64_t os[kMaxDims];
};

template <BinaryOp OP>
__device__ __forceinline__ float apply(float a, float b) {
  if (OP == BinaryOp::Add) return a + b;
  if (OP == BinaryOp::Sub) return a - b;
  return a * b;
}

// flat (row-major over the walk) -> offsets in g and other; idx[] optional.
template <class Idx>
__device__ __forceinline__ void walk_offsets(const Walk& w, Idx flat, int64_t& go, int64_t& oo, int64_t* idx) {
  go = 0;
  oo = 0;
#pragma unroll
  for (int k = 0; k < kMaxDims; ++k) {
    if (k == w.n) break;
    Idx i;
    if (k == w.n - 1) {
      i = flat;  // outermost: no division needed
    } else {
      const Idx s = Idx(w.size[k]);
      const Idx q = flat / s;
      i = flat - q * s;
      flat = q;
    }
    if (idx) idx[k] = int64_t(i);
    go += int64_t(i) * w.gs[k];
    oo += int64_t(i) * w.os[k];
  }
}

// out[i] = a[ia(i)] op b[ib(i)],  ia(i) = sum_k i_k sa[k] over the merged dims
template <BinaryOp OP, class Idx>
__global__ void binary_fwd_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out,
                                  BDims L, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    Idx rem = Idx(i);
    int64_t ao = 0, bo = 0;
#pragma unroll
    for (int k = 0; k < kMaxDims; ++k) {
      if (k == L.nd) break;
      Idx j;
      if (k == L.nd - 1) {
        j = rem;
      } else {
        const Idx s = Idx(L.size[k]);
        const Idx q = rem / s;
        j = rem - q * s;
        rem = q;
      }
      ao += int64_t(j) * L.sa[k];
      bo += int64_t(j) * L.sb[k];
    }
    out[i] = apply<OP>(a[ao], b[bo]);
  }
}

// y = alpha x
__global__ void scale_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, float alpha) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = alpha * x[i];
}

// One-element layout: grad[0] = sign * (other ? g[0] other[0] : g[0])   (float, as the CPU)
__global__ void grad_scalar_kernel(const float* __restrict__ g, const float* __restrict__ other,
                                   float* __restrict__ grad, float sign) {
  if (threadIdx.x == 0 && blockIdx.x == 0) grad[0] = sign * (other ? __fmul_rn(g[0], other[0]) : g[0]);
}

// Last dim kept. Thread (k, blk): k = row len + j is the gradient element (row over
// the kept dims), blk a block of per_block reduced rows r (row-major over `red`):
//   acc = sum_{r in block, ascending} double(g[kept(row) + red(r) + j] * other[...])
// blocks == 1: grad[k] = float(sign acc); else partial[blk K + k] = acc.
template <class Idx>
__global__ void grad_kept_kernel(const float* __restrict__ g, const float* __restrict__ other,
                                 float* __restrict__ grad, double* __restrict__ partial, Walk kept, Walk red,
                                 int64_t len, int64_t other_last, int64_t K, int64_t reduced_count, int64_t per_block,
                                 int64_t blocks, int64_t ktiles, float sign) {
  // no barriers in this kernel: threads past K skip their tile
  for (int64_t tile = blockIdx.x; tile < ktiles * blocks; tile += gridDim.x) {
    const int64_t kt = tile % ktiles, blk = tile / ktiles;
    const int64_t k = kt * kThreads + threadIdx.x;
    if (k >= K) continue;
    const int64_t row = k / len, j = k - row * len;
    int64_t kgo, koo;
    walk_offsets<Idx>(kept, Idx(row), kgo, koo, nullptr);
    const int64_t r0 = blk * per_block;
    const int64_t r1 = r0 + per_block < reduced_count ? r0 + per_block : reduced_count;
    int64_t idx[kMaxDims] = {};
    int64_t rgo, roo;
    walk_offsets<Idx>(red, Idx(r0), rgo, roo, idx);
    const float* gp = g + kgo + j;
    const float* op = other ? other + koo + j * other_last : nullptr;
    double acc = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const float v = op ? __fmul_rn(gp[rgo], op[roo]) : gp[rgo];
      acc += double(v);
      // odometer step over the reduced dims (innermost first)
#pragma unroll
      for (int d = 0; d < kMaxDims; ++d) {
        if (d == red.n) break;
        rgo += red.gs[d];
        roo += red.os[d];
        if (++idx[d] < red.size[d]) break;
        idx[d] = 0;
        rgo -= red.size[d] * red.gs[d];
        roo -= red.size[d] * red.os[d];
      }
    }
    if (blocks == 1) grad[k] = float(double(sign) * acc);
    else partial[blk * K + k] = acc;
  }
}

// grad[k] = float(sign * sum_{b < blocks, ascending} partial[b K + k])
__global__ void grad_finalize_kernel(const double* __restrict__ partial, float* __restrict__ grad, int64_t K,
                                     int64_t blocks, float sign) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < K; k += stride) {
    double s = 0.0;
    for (int64_t b = 0; b < blocks; ++b) s += partial[b * K + k];
    grad[k] = float(double(sign) * s);
  }
}

// Last dim reduced, pass 1. Segment s = seg K + k (k: gradient element = row over
// the kept dims; seg = r segs_per_row + piece, r over the reduced dims): the
// elements j0 .. j0 + n - 1 (j0 = 256 piece) of the last dim at kept(k) + red(r):
//   lane l: L_l = sum_{j = l mod 16, ascending} g[j] (other[j] via fmaf)  (float)
//   segsum[s] = (sum_{l = 0..15} double(L_l)) * (double(other[0]) if other is
//               broadcast along the last dim)
// One half-warp per segment; the block loop is uniform so every lane reaches the
// shuffles.
template <class Idx>
__global__ void grad_segment_kernel(const float* __restrict__ g, const float* __restrict__ other,
                                    double* __restrict__ segsum, Walk kept, Walk red, int64_t len, int64_t other_last,
                                    int64_t segs_per_row, int64_t K, int64_t nseg) {
  const int hw = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  for (int64_t base = int64_t(blockIdx.x) * kSegsPerBlock; base < nseg; base += int64_t(gridDim.x) * kSegsPerBlock) {
    const int64_t s = base + hw;
    const bool valid = s < nseg;
    float acc = 0.0f;
    const float* op = nullptr;
    if (valid) {
      const int64_t seg = s / K, k = s - seg * K;
      const int64_t r = seg / segs_per_row, piece = seg - r * segs_per_row;
      int64_t kgo, koo, rgo, roo;
      walk_offsets<Idx>(kept, Idx(k), kgo, koo, nullptr);
      walk_offsets<Idx>(red, Idx(r), rgo, roo, nullptr);
      const int64_t j0 = piece * kSegment;
      const int64_t n = len - j0 < kSegment ? len - j0 : kSegment;
      const float* gp = g + kgo + rgo + j0;
      op = other ? other + koo + roo + j0 * other_last : nullptr;
      if (op && other_last == 1) {
        for (int64_t j = lane; j < n; j += kLanes) acc = fmaf(gp[j], op[j], acc);
      } else {
        for (int64_t j = lane; j < n; j += kLanes) acc += gp[j];
      }
    }
    double sum = 0.0;
#pragma unroll
    for (int q = 0; q < kLanes; ++q) sum += double(__shfl_sync(0xffffffffu, acc, q, kLanes));
    if (valid && lane == 0) {
      if (op && other_last == 0) sum *= double(op[0]);
      segsum[s] = sum;
    }
  }
}

// Last dim reduced, pass 2. Thread t = blk K + k:
//   acc = sum_{seg in block blk, ascending} segsum[seg K + k]   (double)
// blocks == 1: grad[k] = float(sign acc); else partial[blk K + k] = acc.
__global__ void grad_segment_blocks_kernel(const double* __restrict__ segsum, float* __restrict__ grad,
                                           double* __restrict__ partial, int64_t K, int64_t total, int64_t per_block,
                                           int64_t blocks, float sign) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < K * blocks; t += stride) {
    const int64_t blk = t / K, k = t - blk * K;
    const int64_t s0 = blk * per_block, s1 = s0 + per_block < total ? s0 + per_block : total;
    double acc = 0.0;
    for (int64_t seg = s0; seg < s1; ++seg) acc += segsum[seg * K + k];
    if (blocks == 1) grad[k] = float(double(sign) * acc);
    else partial[t] = acc;
  }
}

// ---- host side ---------------------------------------------------------------

unsigned grid_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxGrid)));
}

std::string shape_text(const int64_t* s, int nd) {
  std::string r = "[";
  for (int i = 0; i < nd; ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

Shape to_shape(const char* fn, const char* what, const int64_t* s, int nd) {
  if (nd < 0 || nd > kMaxDims)
    throw std::invalid_argument(std::string(fn) + ": " + what + " has " + std::to_string(nd) +
                                " dims; 0 to " + std::to_string(kMaxDims) + " are supported");
  if (nd > 0 && !s) throw std::invalid_argument(std::string(fn) + ": " + what + " shape pointer is null");
  for (int i = 0; i < nd; ++i)
    if (s[i] < 0)
      throw std::invalid_argument(std::string(fn) + ": " + what + " " + shape_text(s, nd) + " has size " +
                                  std::to_string(s[i]) + " in dim " + std::to_string(i) + " (sizes must be >= 0)");
  return Shape(s, s + nd);
}

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

Shape broadcast_checked(const char* fn, const Shape& sa, const Shape& sb) {
  const size_t nd = std::max(sa.size(), sb.size());
  Shape out(nd, 1);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t da = i < sa.size() ? sa[sa.size() - 1 - i] : 1;
    const int64_t db = i < sb.size() ? sb[sb.size() - 1 - i] : 1;
    if (!(da == db || da == 1 || db == 1))
      throw std::invalid_argument(std::string(fn) + ": cannot broadcast a " +
                                  shape_text(sa.data(), int(sa.size())) + " with b " +
                                  shape_text(sb.data(), int(sb.size())) + ": dim -" + std::to_string(i + 1) +
                                  " has sizes " + std::to_string(da) + " and " + std::to_string(db) +
                                  " (each pair must be equal or one of them 1)");
    out[nd - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

// cpu::broadcast_layout, outermost dim first.
struct Layout {
  Shape sizes, as, bs;
  int64_t numel = 1;
};

Layout broadcast_layout(const Shape& a_shape, const Shape& b_shape, const Shape& out_shape) {
  const int nd = int(out_shape.size());
  auto strides_for = [&](const Shape& s) {
    Shape st(size_t(nd), 0);
    int64_t acc = 1;
    const int off = nd - int(s.size());
    for (int d = nd - 1; d >= off; --d) {
      const int64_t sz = s[size_t(d - off)];
      st[size_t(d)] = sz == 1 ? 0 : acc;
      acc *= sz;
    }
    return st;
  };
  const Shape as = strides_for(a_shape), bs = strides_for(b_shape);
  Layout L;
  for (int d = 0; d < nd; ++d) {
    const int64_t sz = out_shape[size_t(d)];
    L.numel *= sz;
    if (sz == 1) continue;
    if (!L.sizes.empty() && L.as.back() == as[size_t(d)] * sz && L.bs.back() == bs[size_t(d)] * sz) {
      L.sizes.back() *= sz;
      L.as.back() = as[size_t(d)];
      L.bs.back() = bs[size_t(d)];
    } else {
      L.sizes.push_back(sz);
      L.as.push_back(as[size_t(d)]);
      L.bs.push_back(bs[size_t(d)]);
    }
  }
  return L;
}

BDims to_bdims(const Layout& L) {
  BDims d{};
  d.nd = int(L.sizes.size());
  for (int k = 0; k < d.nd; ++k) {
    const size_t src = size_t(d.nd - 1 - k);
    d.size[k] = L.sizes[src];
    d.sa[k] = L.as[src];
    d.sb[k] = L.bs[src];
  }
  return d;
}

bool fits32(int64_t n) { return n <= int64_t(UINT32_MAX); }

template <BinaryOp OP>
void launch_binary_op(const float* a, const float* b, float* out, const BDims& d, int64_t n, cudaStream_t stream) {
  const unsigned grid = grid_for(n);
  if (fits32(n)) TESSERA_LAUNCH((binary_fwd_kernel<OP, uint32_t>), grid, kThreads, 0, stream)(a, b, out, d, n);
  else TESSERA_LAUNCH((binary_fwd_kernel<OP, uint64_t>), grid, kThreads, 0, stream)(a, b, out, d, n);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void launch_binary(BinaryOp op, const float* a, const float* b, float* out, const Layout& L, cudaStream_t stream) {
  if (L.numel == 0) return;
  const BDims d = to_bdims(L);
  switch (op) {
    case BinaryOp::Add: launch_binary_op<BinaryOp::Add>(a, b, out, d, L.numel, stream); break;
    case BinaryOp::Sub: launch_binary_op<BinaryOp::Sub>(a, b, out, d, L.numel, stream); break;
    case BinaryOp::Mul: launch_binary_op<BinaryOp::Mul>(a, b, out, d, L.numel, stream); break;
  }
}

void launch_scale(const float* x, float* y, int64_t n, float alpha, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(scale_kernel, grid_for(n), kThreads, 0, stream)(x, y, n, alpha);
  TESSERA_CUDA_CHECK_LAUNCH();
}

// The gradient of one input (`self`), as the CPU's input_grad + reduce_broadcast_grad.
struct GradPlan {
  enum Kind { Empty, Zeros, Elementwise, Scalar, Kept, Reduced } kind = Empty;
  Layout layout;
  Walk kept{}, red{};
  int64_t len = 0, other_last = 0, K = 0, reduced_count = 1;
  int64_t blocks = 1, per_block = 1;
  int64_t total = 0, segs_per_row = 1;  // Reduced
  int64_t ws_doubles = 0;
  int64_t out_numel = 0;
};

GradPlan plan_grad(bool mul, const Shape& self, const Shape& other, const Shape& out_shape) {
  GradPlan p;
  p.out_numel = numel_of(out_shape);
  if (numel_of(self) == 0) return p;  // Empty
  if (p.out_numel == 0) {
    p.kind = GradPlan::Zeros;
    return p;
  }
  if (self == out_shape) {
    p.kind = GradPlan::Elementwise;
    if (mul) p.layout = broadcast_layout(out_shape, other, out_shape);
    return p;
  }
  const Layout L = broadcast_layout(self, mul ? other : self, out_shape);
  p.layout = L;
  const int nd = int(L.sizes.size());
  if (nd == 0) {
    p.kind = GradPlan::Scalar;
    return p;
  }
  Shape out_stride(static_cast<size_t>(nd), 0);
  int64_t acc = 1;
  for (int d = nd - 1; d >= 0; --d) {
    out_stride[size_t(d)] = acc;
    acc *= L.sizes[size_t(d)];
  }
  p.len = L.sizes.back();
  p.other_last = mul ? L.bs.back() : 0;
  const bool last_kept = L.as.back() != 0;
  int64_t kept_rows = 1;
  // Walks, innermost first (the CPU's walkers list dims outermost first).
  for (int d = nd - 2; d >= 0; --d) {
    const bool kept_dim = L.as[size_t(d)] != 0;
    Walk& w = kept_dim ? p.kept : p.red;
    w.size[w.n] = L.sizes[size_t(d)];
    w.gs[w.n] = out_stride[size_t(d)];
    w.os[w.n] = mul ? L.bs[size_t(d)] : 0;
    ++w.n;
    (kept_dim ? kept_rows : p.reduced_count) *= L.sizes[size_t(d)];
  }
  if (last_kept) {
    p.kind = GradPlan::Kept;
    p.K = kept_rows * p.len;
    const int64_t col_chunks = (p.len + kColChunk - 1) / kColChunk;
    const int64_t tasks = kept_rows * col_chunks;
    const int64_t cols = std::min(p.len, kColChunk);
    if (tasks >= kFewTasks) {
      p.blocks = 1;
      p.per_block = p.reduced_count;
    } else {
      p.per_block = std::max<int64_t>(1, kGrainElems / cols);
      p.blocks = (p.reduced_count + p.per_block - 1) / p.per_block;
    }
    p.ws_doubles = p.blocks > 1 ? p.blocks * p.K : 0;
  } else {
    p.kind = GradPlan::Reduced;
    p.K = kept_rows;
    p.segs_per_row = (p.len + kSegment - 1) / kSegment;
    p.total = p.reduced_count * p.segs_per_row;
    if (kept_rows >= kFewTasks) {
      p.blocks = 1;
      p.per_block = p.total;
    } else {
      p.per_block = kSegmentsPerBlock;
      p.blocks = (p.total + p.per_block - 1) / p.per_block;
    }
    p.ws_doubles = p.K * p.total + (p.blocks > 1 ? p.K * p.blocks : 0);
  }
  return p;
}

void run_grad(const GradPlan& p, const float* g, const float* other, float* grad, double* ws, float sign,
              cudaStream_t stream) {
  const bool s32 = fits32(p.out_numel);
  switch (p.kind) {
    case GradPlan::Empty:
    case GradPlan::Zeros:  // the caller clears the gradient (it knows self's numel)
      return;
    case GradPlan::Elementwise:
      if (other) launch_binary(BinaryOp::Mul, g, other, grad, p.layout, stream);
      else launch_scale(g, grad, p.out_numel, sign, stream);
      return;
    case GradPlan::Scalar:
      TESSERA_LAUNCH(grad_scalar_kernel, 1, 32, 0, stream)(g, other, grad, sign);
      TESSERA_CUDA_CHECK_LAUNCH();
      return;
    case GradPlan::Kept: {
      const int64_t ktiles = (p.K + kThreads - 1) / kThreads;
      const unsigned grid = unsigned(std::min<int64_t>(ktiles * p.blocks, kMaxGrid));
      if (s32)
        TESSERA_LAUNCH(grad_kept_kernel<uint32_t>, grid, kThreads, 0, stream)(
            g, other, grad, ws, p.kept, p.red, p.len, p.other_last, p.K, p.reduced_count, p.per_block, p.blocks,
            ktiles, sign);
      else
        TESSERA_LAUNCH(grad_kept_kernel<uint64_t>, grid, kThreads, 0, stream)(
            g, other, grad, ws, p.kept, p.red, p.len, p.other_last, p.K, p.reduced_count, p.per_block, p.blocks,
            ktiles, sign);
      TESSERA_CUDA_CHECK_LAUNCH();
      if (p.blocks > 1) {
        TESSERA_LAUNCH(grad_finalize_kernel, grid_for(p.K), kThreads, 0, stream)(ws, grad, p.K, p.blocks, sign);
        TESSERA_CUDA_CHECK_LAUNCH();
      }
      return;
    }
    case GradPlan::Reduced: {
      double* segsum = ws;
      double* partial = ws + p.K * p.total;
      const int64_t nseg = p.K * p.total;
      const unsigned grid1 =
          unsigned(std::max<int64_t>(1, std::min<int64_t>((nseg + kSegsPerBlock - 1) / kSegsPerBlock, kMaxGrid)));
      if (s32)
        TESSERA_LAUNCH(grad_segment_kernel<uint32_t>, grid1, kThreads, 0, stream)(
            g, other, segsum, p.kept, p.red, p.len, p.other_last, p.segs_per_row, p.K, nseg);
      else
        TESSERA_LAUNCH(grad_segment_kernel<uint64_t>, grid1, kThreads, 0, stream)(
            g, other, segsum, p.kept, p.red, p.len, p.other_last, p.segs_per_row, p.K, nseg);
      TESSERA_CUDA_CHECK_LAUNCH();
      TESSERA_LAUNCH(grad_segment_blocks_kernel, grid_for(p.K * p.blocks), kThreads, 0, stream)(
          segsum, grad, partial, p.K, p.total, p.per_block, p.blocks, sign);
      TESSERA_CUDA_CHECK_LAUNCH();
      if (p.blocks > 1) {
        TESSERA_LAUNCH(grad_finalize_kernel, grid_for(p.K), kThreads, 0, stream)(partial, grad, p.K, p.blocks, sign);
        TESSERA_CUDA_CHECK_LAUNCH();
      }
      return;
    }
  }
}

}  // namespace

std::vector<int64_t> broadcast_shape(const int64_t* a_shape, int a_ndim, const int64_t* b_shape, int b_ndim) {
  const char* fn = "broadcast_shape";
  return broadcast_checked(fn, to_shape(fn, "a", a_shape, a_ndim), to_shape(fn, "b", b_shape, b_ndim));
}

void binary_forward(BinaryOp op, const float* a, const int64_t* a_shape, int a_ndim, const float* b,
                    const int64_t* b_shape, int b_ndim, float* out, cudaStream_t stream) {
  const char* fn = "binary_forward";
  const Shape sa = to_shape(fn, "a", a_shape, a_ndim), sb = to_shape(fn, "b", b_shape, b_ndim);
  const Shape so = broadcast_checked(fn, sa, sb);
  const Layout L = broadcast_layout(sa, sb, so);
  if (L.numel == 0) return;
  if (!a || !b || !out) throw std::invalid_argument("binary_forward: a, b and out must be non-null device pointers");
  launch_binary(op, a, b, out, L, stream);
}

int64_t binary_backward_workspace_floats(BinaryOp op, const int64_t* a_shape, int a_ndim, const int64_t* b_shape,
                                         int b_ndim) {
  const char* fn = "binary_backward_workspace_floats";
  const Shape sa = to_shape(fn, "a", a_shape, a_ndim), sb = to_shape(fn, "b", b_shape, b_ndim);
  const Shape so = broadcast_checked(fn, sa, sb);
  const bool mul = op == BinaryOp::Mul;
  const int64_t da = plan_grad(mul, sa, sb, so).ws_doubles, db = plan_grad(mul, sb, sa, so).ws_doubles;
  return 2 * std::max(da, db);
}

void binary_backward(BinaryOp op, const float* a, const int64_t* a_shape, int a_ndim, const float* b,
                     const int64_t* b_shape, int b_ndim, const float* gout, float* ga, float* gb, float* workspace,
                     cudaStream_t stream) {
  const char* fn = "binary_backward";
  const Shape sa = to_shape(fn, "a", a_shape, a_ndim), sb = to_shape(fn, "b", b_shape, b_ndim);
  const Shape so = broadcast_checked(fn, sa, sb);
  const bool mul = op == BinaryOp::Mul;
  for (int which = 0; which < 2; ++which) {
    float* grad = which == 0 ? ga : gb;
    if (!grad) continue;
    const Shape& self = which == 0 ? sa : sb;
    const Shape& other_shape = which == 0 ? sb : sa;
    const float* other = mul ? (which == 0 ? b : a) : nullptr;
    const float sign = (op == BinaryOp::Sub && which == 1) ? -1.0f : 1.0f;
    const GradPlan p = plan_grad(mul, self, other_shape, so);
    if (p.kind == GradPlan::Empty) continue;
    if (p.kind == GradPlan::Zeros) {
      TESSERA_CUDA_CHECK(cudaMemsetAsync(grad, 0, size_t(numel_of(self)) * sizeof(float), stream));
      continue;
    }
    if (!gout || (mul && !other))
      throw std::invalid_argument(std::string(fn) + ": gout" + (mul ? " and the other operand" : "") +
                                  " must be non-null device pointers");
    if (p.ws_doubles > 0) {
      if (!workspace)
        throw std::invalid_argument(std::string(fn) + ": workspace is null but the gradient of " +
                                    (which == 0 ? "a " : "b ") + shape_text(self.data(), int(self.size())) +
                                    " needs " + std::to_string(2 * p.ws_doubles) +
                                    " floats (binary_backward_workspace_floats)");
      if (reinterpret_cast<uintptr_t>(workspace) % alignof(double) != 0)
        throw std::invalid_argument(std::string(fn) + ": workspace must be 8-byte aligned (it holds doubles)");
    }
    run_grad(p, gout, other, grad, reinterpret_cast<double*>(workspace), sign, stream);
  }
}

void scale_forward(const float* x, float* y, int64_t n, float alpha, cudaStream_t stream) {
  if (n < 0) throw std::invalid_argument("scale_forward: n = " + std::to_string(n) + " must be >= 0");
  launch_scale(x, y, n, alpha, stream);
}

void scale_backward(const float* gy, float* gx, int64_t n, float alpha, cudaStream_t stream) {
  if (n < 0) throw std::invalid_argument("scale_backward: n = " + std::to_string(n) + " must be >= 0");
  launch_scale(gy, gx, n, alpha, stream);
}

}  // namespace cuda
}  // namespace tessera
