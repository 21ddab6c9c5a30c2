// Broadcasting add / sub / mul and scale.
//
//   add: y = a + b     dL/da = reduce(g)          dL/db = reduce(g)
//   sub: y = a - b     dL/da = reduce(g)          dL/db = -reduce(g)
//   mul: y = a * b     dL/da = reduce(g * b)      dL/db = reduce(g * a)
//   scale: y = alpha x dL/dx = alpha g
// where reduce() sums over the dimensions along which that input was broadcast.
//
// Forward: the merged output is walked as rows of its last dimension (split into
// chunks of kChunk), each input read with stride 0 or 1 along that dimension.
// Backward reduction order (fixed by shape, never by thread count):
//   * last dimension kept: each gradient element sums its broadcast positions in
//     row-major order of the reduced dimensions, in double; when there are few
//     output columns the reduced range is cut into fixed blocks whose double
//     partial sums are added in block order.
//   * last dimension reduced: contiguous runs are cut into segments of kSegment
//     elements, each summed in 16 float lanes then added in double; segments
//     are added in order (in fixed blocks of kSegmentsPerBlock when the gradient
//     is small, block sums added in order).
#include "cpu/elementwise.h"

#include <algorithm>

#include "core/cpu_features.h"
#include "core/threadpool.h"

namespace tessera {
namespace cpu {

namespace {

constexpr int64_t kChunk = 16384;          // forward: elements of one row handled by one task
constexpr int64_t kGrainElems = 32768;     // elements below which a kernel runs on one thread
constexpr int64_t kColChunk = 1024;        // backward (last dim kept): columns per task
constexpr int64_t kSegment = 256;          // backward (last dim reduced): elements per float-lane segment
constexpr int64_t kSegmentsPerBlock = 128; // backward (last dim reduced): segments per block
constexpr int64_t kFewTasks = 64;          // below this many output tasks the reduced range is blocked too
constexpr int kLanes = 16;
constexpr int64_t kBlock = 1024;          // elementwise kernels: range starts are multiples of this
constexpr int64_t kGrain = kGrainElems;

// Ranges start at multiples of kBlock: bit-identical for any thread count.
template <class Fn>
void parallel_blocks(int64_t n, const Fn& fn) {
  parallel_for_blocks(n, kBlock, kGrain, fn);
}

template <BinaryOp OP>
TESSERA_INLINE float apply(float a, float b) {
  if constexpr (OP == BinaryOp::Add) return a + b;
  if constexpr (OP == BinaryOp::Sub) return a - b;
  return a * b;
}

// out[j] = a[j * SA] op b[j * SB], j < n.
template <BinaryOp OP, int SA, int SB>
TESSERA_INLINE void binary_row(const float* __restrict a, const float* __restrict b, float* __restrict out,
                               int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = apply<OP>(a[j * SA], b[j * SB]);
}

template <BinaryOp OP>
TESSERA_INLINE void binary_row_strided(const float* a, const float* b, float* out, int64_t n, int64_t sa,
                                       int64_t sb) {
  if (sa == 1 && sb == 1) binary_row<OP, 1, 1>(a, b, out, n);
  else if (sa == 1) binary_row<OP, 1, 0>(a, b, out, n);
  else binary_row<OP, 0, 1>(a, b, out, n);
}

// Tasks [t0, t1): task t = (row t / nch, chunk t % nch) of the merged output.
template <Isa I>
TESSERA_INLINE void binary_tasks_impl(BinaryOp op, const float* a, const float* b, float* out,
                                      const BroadcastLayout* layout, int64_t nch, int64_t t0, int64_t t1) {
  const int nd = int(layout->sizes.size());
  const int64_t len = layout->sizes[size_t(nd - 1)];
  const int64_t sa = layout->a_strides[size_t(nd - 1)], sb = layout->b_strides[size_t(nd - 1)];
  for (int64_t t = t0; t < t1; ++t) {
    int64_t row = t / nch, c = t % nch;
    int64_t aoff = 0, boff = 0, rem = row;
    for (int d = nd - 2; d >= 0; --d) {
      int64_t i = rem % layout->sizes[size_t(d)];
      rem /= layout->sizes[size_t(d)];
      aoff += i * layout->a_strides[size_t(d)];
      boff += i * layout->b_strides[size_t(d)];
    }
    int64_t j0 = c * kChunk, n = std::min(kChunk, len - j0);
    const float* ap = a + aoff + j0 * sa;
    const float* bp = b + boff + j0 * sb;
    float* op_ = out + row * len + j0;
    switch (op) {
      case BinaryOp::Add: binary_row_strided<BinaryOp::Add>(ap, bp, op_, n, sa, sb); break;
      case BinaryOp::Sub: binary_row_strided<BinaryOp::Sub>(ap, bp, op_, n, sa, sb); break;
      case BinaryOp::Mul: binary_row_strided<BinaryOp::Mul>(ap, bp, op_, n, sa, sb); break;
    }
  }
}
TESSERA_ISA_DISPATCH(binary_tasks, binary_tasks_impl,
                     (BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout* layout,
                      int64_t nch, int64_t t0, int64_t t1),
                     (op, a, b, out, layout, nch, t0, t1))

template <Isa I>
TESSERA_INLINE void scale_range_impl(const float* __restrict x, float* __restrict y, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}
TESSERA_ISA_DISPATCH(scale_range, scale_range_impl, (const float* x, float* y, int64_t n, float alpha),
                     (x, y, n, alpha))

// A walk over a subset of the merged dims (row-major, last fastest), tracking
// the offset into the output (contiguous), the gradient and the other operand.
struct Walker {
  int n = 0;
  int64_t size[16], out_stride[16], other_stride[16], idx[16];
  int64_t out_off = 0, other_off = 0;

  void start(int64_t flat) {
    out_off = other_off = 0;
    for (int d = n - 1; d >= 0; --d) {
      idx[d] = flat % size[d];
      flat /= size[d];
      out_off += idx[d] * out_stride[d];
      other_off += idx[d] * other_stride[d];
    }
  }
  void next() {
    for (int d = n - 1; d >= 0; --d) {
      if (++idx[d] < size[d]) {
        out_off += out_stride[d];
        other_off += other_stride[d];
        return;
      }
      idx[d] = 0;
      out_off -= (size[d] - 1) * out_stride[d];
      other_off -= (size[d] - 1) * other_stride[d];
    }
  }
};

// Last dim kept: acc[j] += g[goff + j] * other[ooff + j * os] for j < n.
template <Isa I>
TESSERA_INLINE void accumulate_row_impl(const float* __restrict g, const float* __restrict other, int64_t os,
                                        double* __restrict acc, int64_t n) {
  if (!other) {
    for (int64_t j = 0; j < n; ++j) acc[j] += double(g[j]);
  } else if (os == 1) {
    for (int64_t j = 0; j < n; ++j) acc[j] += double(g[j] * other[j]);
  } else {
    const float o = other[0];
    for (int64_t j = 0; j < n; ++j) acc[j] += double(g[j] * o);
  }
}

// Sum of g[j] * other[j * os] (other null: of g[j]) for j < n <= kSegment, in 16
// float lanes (lane k takes j = k mod 16) added in order in double.
template <Isa I>
TESSERA_INLINE double segment_sum(const float* __restrict g, const float* __restrict other, int64_t os,
                                  int64_t n) {
  float lanes[kLanes];
  for (int k = 0; k < kLanes; ++k) lanes[k] = 0.0f;
  int64_t j = 0;
  if (other && os == 1) {
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) lanes[k] += g[j + k] * other[j + k];
    for (int k = 0; j + k < n; ++k) lanes[k] += g[j + k] * other[j + k];
  } else {
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) lanes[k] += g[j + k];
    for (int k = 0; j + k < n; ++k) lanes[k] += g[j + k];
  }
  double s = 0.0;
  for (int k = 0; k < kLanes; ++k) s += double(lanes[k]);
  if (other && os == 0) s *= double(other[0]);
  return s;
}

struct ReducePlan {
  const float* g;
  const float* other;
  float* grad;
  float sign;
  Walker kept, reduced;     // kept: kept dims except a kept last dim; reduced: reduced dims except a reduced last dim
  int64_t len;              // last merged dim
  int64_t other_last;       // other's stride along it (0 or 1)
  bool last_kept;
  int64_t kept_rows;        // product of `kept` sizes
  int64_t reduced_count;    // product of `reduced` sizes
  int64_t col_chunks;       // last kept: column chunks per row
  int64_t segs_per_row;     // last reduced: segments per contiguous run
  int64_t blocks;           // blocks of the reduced range per output task
  int64_t per_block;        // reduced rows (last kept) or segments (last reduced) per block
  double* partial;          // [tasks][blocks] partial sums when blocks > 1
};

// Last dim kept. Task t = ((kept row, column chunk), block).
template <Isa I>
TESSERA_INLINE void reduce_kept_impl(const ReducePlan* p, int64_t t0, int64_t t1) {
  Walker kept = p->kept, red = p->reduced;
  double acc[kColChunk];
  for (int64_t t = t0; t < t1; ++t) {
    int64_t blk = t % p->blocks, task = t / p->blocks;
    int64_t row = task / p->col_chunks, cc = task % p->col_chunks;
    int64_t j0 = cc * kColChunk, n = std::min(kColChunk, p->len - j0);
    kept.start(row);
    int64_t r0 = blk * p->per_block, r1 = std::min(p->reduced_count, r0 + p->per_block);
    for (int64_t j = 0; j < n; ++j) acc[j] = 0.0;
    red.start(r0);
    for (int64_t r = r0; r < r1; ++r, red.next()) {
      const float* gp = p->g + kept.out_off + red.out_off + j0;
      const float* op = p->other ? p->other + kept.other_off + red.other_off + j0 * p->other_last : nullptr;
      accumulate_row_impl<I>(gp, op, p->other_last, acc, n);
    }
    if (p->blocks == 1) {
      float* out = p->grad + row * p->len + j0;
      for (int64_t j = 0; j < n; ++j) out[j] = float(double(p->sign) * acc[j]);
    } else {
      double* out = p->partial + (task * p->blocks + blk) * kColChunk;
      for (int64_t j = 0; j < n; ++j) out[j] = acc[j];
    }
  }
}
TESSERA_ISA_DISPATCH(reduce_kept, reduce_kept_impl, (const ReducePlan* p, int64_t t0, int64_t t1),
                     (p, t0, t1))

// Last dim reduced. Task t = (gradient element, block).
template <Isa I>
TESSERA_INLINE void reduce_last_impl(const ReducePlan* p, int64_t t0, int64_t t1) {
  Walker kept = p->kept, red = p->reduced;
  const int64_t total = p->reduced_count * p->segs_per_row;
  for (int64_t t = t0; t < t1; ++t) {
    int64_t blk = t % p->blocks, k = t / p->blocks;
    kept.start(k);
    int64_t s0 = blk * p->per_block, s1 = std::min(total, s0 + p->per_block);
    int64_t row = s0 / p->segs_per_row, piece = s0 % p->segs_per_row;
    red.start(row);
    double s = 0.0;
    for (int64_t seg = s0; seg < s1; ++seg) {
      int64_t j0 = piece * kSegment, n = std::min(kSegment, p->len - j0);
      const float* gp = p->g + kept.out_off + red.out_off + j0;
      const float* op = p->other ? p->other + kept.other_off + red.other_off + j0 * p->other_last : nullptr;
      s += segment_sum<I>(gp, op, p->other_last, n);
      if (++piece == p->segs_per_row) {
        piece = 0;
        red.next();
      }
    }
    if (p->blocks == 1) p->grad[k] = float(double(p->sign) * s);
    else p->partial[t] = s;
  }
}
TESSERA_ISA_DISPATCH(reduce_last, reduce_last_impl, (const ReducePlan* p, int64_t t0, int64_t t1), (p, t0, t1))

}  // namespace

BroadcastLayout broadcast_layout(const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape,
                                 const std::vector<int64_t>& out_shape) {
  const int nd = int(out_shape.size());
  auto strides_for = [&](const std::vector<int64_t>& s) {
    std::vector<int64_t> st(size_t(nd), 0);
    int64_t acc = 1;
    const int off = nd - int(s.size());
    for (int d = nd - 1; d >= off; --d) {
      int64_t sz = s[size_t(d - off)];
      st[size_t(d)] = (sz == 1) ? 0 : acc;
      acc *= sz;
    }
    return st;
  };
  std::vector<int64_t> as = strides_for(a_shape), bs = strides_for(b_shape);
  BroadcastLayout L;
  L.numel = 1;
  for (int d = 0; d < nd; ++d) {
    int64_t sz = out_shape[size_t(d)];
    L.numel *= sz;
    if (sz == 1) continue;
    if (!L.sizes.empty() && L.a_strides.back() == as[size_t(d)] * sz && L.b_strides.back() == bs[size_t(d)] * sz) {
      L.sizes.back() *= sz;
      L.a_strides.back() = as[size_t(d)];
      L.b_strides.back() = bs[size_t(d)];
    } else {
      L.sizes.push_back(sz);
      L.a_strides.push_back(as[size_t(d)]);
      L.b_strides.push_back(bs[size_t(d)]);
    }
  }
  return L;
}

void binary_forward(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout) {
  if (layout.numel == 0) return;
  if (layout.sizes.empty()) {
    switch (op) {
      case BinaryOp::Add: out[0] = a[0] + b[0]; break;
      case BinaryOp::Sub: out[0] = a[0] - b[0]; break;
      case BinaryOp::Mul: out[0] = a[0] * b[0]; break;
    }
    return;
  }
  const int64_t len = layout.sizes.back();
  const int64_t rows = layout.numel / len;
  const int64_t nch = (len + kChunk - 1) / kChunk;
  const int64_t chunk = std::min(len, kChunk);
  parallel_for(rows * nch, std::max<int64_t>(1, kGrainElems / chunk),
               [&](int64_t t0, int64_t t1) { binary_tasks(op, a, b, out, &layout, nch, t0, t1); });
}

void scale_forward(const float* x, float* y, int64_t n, float alpha) {
  parallel_blocks(n, [&](int64_t b, int64_t e) { scale_range(x + b, y + b, e - b, alpha); });
}

void reduce_broadcast_grad(const float* g, const float* other, float* grad, const BroadcastLayout& layout,
                           float sign) {
  if (layout.numel == 0) return;
  const int nd = int(layout.sizes.size());
  if (nd == 0) {
    grad[0] = sign * (other ? g[0] * other[0] : g[0]);
    return;
  }
  // Output (= g) strides of the merged dims.
  std::vector<int64_t> out_stride(static_cast<size_t>(nd));
  int64_t acc = 1;
  for (int d = nd - 1; d >= 0; --d) {
    out_stride[size_t(d)] = acc;
    acc *= layout.sizes[size_t(d)];
  }
  ReducePlan p;
  p.g = g;
  p.other = other;
  p.grad = grad;
  p.sign = sign;
  p.len = layout.sizes.back();
  p.other_last = other ? layout.b_strides.back() : 0;
  p.last_kept = layout.a_strides.back() != 0;
  p.kept_rows = 1;
  p.reduced_count = 1;
  for (int d = 0; d < nd - 1; ++d) {
    const bool kept_dim = layout.a_strides[size_t(d)] != 0;
    Walker& w = kept_dim ? p.kept : p.reduced;
    w.size[w.n] = layout.sizes[size_t(d)];
    w.out_stride[w.n] = out_stride[size_t(d)];
    w.other_stride[w.n] = layout.b_strides[size_t(d)];
    w.idx[w.n] = 0;
    ++w.n;
    (kept_dim ? p.kept_rows : p.reduced_count) *= layout.sizes[size_t(d)];
  }
  std::vector<double> partial;
  if (p.last_kept) {
    p.col_chunks = (p.len + kColChunk - 1) / kColChunk;
    const int64_t tasks = p.kept_rows * p.col_chunks;
    const int64_t cols = std::min(p.len, kColChunk);
    p.segs_per_row = 1;
    if (tasks >= kFewTasks) {
      p.blocks = 1;
      p.per_block = p.reduced_count;
    } else {
      p.per_block = std::max<int64_t>(1, kGrainElems / cols);
      p.blocks = (p.reduced_count + p.per_block - 1) / p.per_block;
    }
    if (p.blocks > 1) partial.assign(size_t(tasks * p.blocks * kColChunk), 0.0);
    p.partial = partial.data();
    const int64_t work_per_task = cols * std::min(p.per_block, p.reduced_count);
    parallel_for(tasks * p.blocks, std::max<int64_t>(1, kGrainElems / work_per_task),
                 [&](int64_t t0, int64_t t1) { reduce_kept(&p, t0, t1); });
    if (p.blocks > 1) {
      parallel_for(tasks, 16, [&](int64_t a0, int64_t a1) {
        for (int64_t task = a0; task < a1; ++task) {
          int64_t row = task / p.col_chunks, cc = task % p.col_chunks;
          int64_t j0 = cc * kColChunk, n = std::min(kColChunk, p.len - j0);
          for (int64_t j = 0; j < n; ++j) {
            double s = 0.0;
            for (int64_t b = 0; b < p.blocks; ++b) s += partial[size_t((task * p.blocks + b) * kColChunk + j)];
            grad[row * p.len + j0 + j] = float(double(sign) * s);
          }
        }
      });
    }
  } else {
    p.col_chunks = 1;
    p.segs_per_row = (p.len + kSegment - 1) / kSegment;
    const int64_t total = p.reduced_count * p.segs_per_row;
    const int64_t tasks = p.kept_rows;
    if (tasks >= kFewTasks) {
      p.blocks = 1;
      p.per_block = total;
    } else {
      p.per_block = kSegmentsPerBlock;
      p.blocks = (total + p.per_block - 1) / p.per_block;
    }
    if (p.blocks > 1) partial.assign(size_t(tasks * p.blocks), 0.0);
    p.partial = partial.data();
    const int64_t work_per_task = std::max<int64_t>(1, layout.numel / (tasks * p.blocks));
    parallel_for(tasks * p.blocks, std::max<int64_t>(1, kGrainElems / work_per_task),
                 [&](int64_t t0, int64_t t1) { reduce_last(&p, t0, t1); });
    if (p.blocks > 1) {
      for (int64_t k = 0; k < tasks; ++k) {
        double s = 0.0;
        for (int64_t b = 0; b < p.blocks; ++b) s += partial[size_t(k * p.blocks + b)];
        grad[k] = float(double(sign) * s);
      }
    }
  }
}

}  // namespace cpu
}  // namespace tessera
