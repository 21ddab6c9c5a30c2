// cuda/copy.cu — strided N-d copies: permute, slice, pad, concat (forward and
// backward) and a general strided_copy.
//
// One description covers every op: the destination's index space (dims innermost
// first) with, per dim, the source stride, the destination stride and a window
//   c = i - lo;  inside iff 0 <= c < hi and c % step == 0;  source coordinate c / step
// (outside: the fill value). Plain dims (lo = 0, hi = size, step = 1) are merged on
// the host where contiguous on both sides. Kernels:
//   * gather_kernel<window, dst_contiguous>: one thread per output element
//     (grid-stride), index split innermost first, 64-bit offsets;
//   * transpose_kernel: permutes whose innermost output dim is strided in the source:
//     32 x 32 tiles through shared memory (padded to 33 columns), reads coalesced
//     along the source's unit-stride dim, writes coalesced along the output's;
//   * concat_kernel: one thread per output element of a group of up to 32 inputs,
//     the input found by binary search on the concat coordinate.
// No kernel reads what another thread writes (except the tile, behind a barrier),
// so results are exact and schedule-independent.
#include "copy.h"
#include "check.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = kMaxCopyDims;
constexpr int64_t kMaxGrid = int64_t(1) << 18;
constexpr int kTile = 32;
constexpr int kTileRows = kThreads / kTile;  // 8
constexpr int64_t kTransposeMin = 8;         // both tile dims at least this long
constexpr int kConcatMax = 32;               // inputs per concat launch

// Destination index space, innermost dim first.
struct CopyDims {
  int nd;
  int64_t size[kMaxDims];
  int64_t src[kMaxDims];   // source stride
  int64_t dst[kMaxDims];   // destination stride
  int64_t lo[kMaxDims];    // window (see above)
  int64_t hi[kMaxDims];
  int64_t step[kMaxDims];
};

// dst[i] = inside(i) ? src[sum_k c_k src_k] : fill,  c_k = (i_k - lo_k) / step_k
// (dst offset i when contiguous, else sum_k i_k dst_k)
template <bool kWindow, bool kDstContig, class Idx>
__global__ void gather_kernel(const float* __restrict__ src, float* __restrict__ dst, CopyDims L, int64_t n,
                              float fill) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    Idx rem = Idx(i);
    int64_t so = 0, dof = 0;
    bool inside = true;
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
      if (!kDstContig) dof += int64_t(j) * L.dst[k];
      int64_t c = int64_t(j);
      if (kWindow) {
        c -= L.lo[k];
        if (c < 0 || c >= L.hi[k]) {
          inside = false;
        } else if (L.step[k] != 1) {
          const int64_t q = c / L.step[k];
          if (q * L.step[k] != c) inside = false;
          c = q;
        }
      }
      so += c * L.src[k];
    }
    dst[kDstContig ? i : dof] = (!kWindow || inside) ? src[so] : fill;
  }
}

// Tiled transpose over dims 0 (b: destination stride 1) and m (a: source stride 1);
// the other dims form `outer`. Tile t = (o, a tile, b tile):
//   read  tile[b - b0][a - a0] = src[so(o) + a src_m + b src_0]   (threads along a)
//   write dst[do(o) + a dst_m + b] = tile[b - b0][a - a0]          (threads along b)
template <class Idx>
__global__ void transpose_kernel(const float* __restrict__ src, float* __restrict__ dst, CopyDims L, int m,
                                 int64_t atiles, int64_t btiles, int64_t tiles) {
  TESSERA_SHARED_2D(float, tile, kTile, kTile + 1);
  const int tx = threadIdx.x % kTile, ty = threadIdx.x / kTile;
  const int64_t na = L.size[m], nb = L.size[0];
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {  // uniform over the block
    const int64_t bt = t % btiles, q = t / btiles;
    const int64_t at = q % atiles;
    Idx rem = Idx(q / atiles);
    int64_t so = 0, dof = 0;
    for (int k = 1; k < L.nd; ++k) {
      if (k == m) continue;
      const Idx s = Idx(L.size[k]);
      const Idx qq = rem / s;
      const Idx j = rem - qq * s;
      rem = qq;
      so += int64_t(j) * L.src[k];
      dof += int64_t(j) * L.dst[k];
    }
    const int64_t a0 = at * kTile, b0 = bt * kTile;
    for (int r = ty; r < kTile; r += kTileRows) {
      const int64_t a = a0 + tx, b = b0 + r;
      if (a < na && b < nb) tile[r][tx] = src[so + a * L.src[m] + b * L.src[0]];
    }
    __syncthreads();
    for (int r = ty; r < kTile; r += kTileRows) {
      const int64_t a = a0 + r, b = b0 + tx;
      if (a < na && b < nb) dst[dof + a * L.dst[m] + b * L.dst[0]] = tile[tx][r];
    }
    __syncthreads();  // the tile is rewritten by the next iteration
  }
}

// Up to 32 inputs, input k covering [begin[k], begin[k + 1]) of the group's span
// along the concat dim:
//   dst[(o D + c0 + c) inner + e] = src_k[(o len_k + c - begin[k]) inner + e],
//   k = the last input with begin[k] <= c,  i = (o span + c) inner + e
struct ConcatTable {
  const float* src[kConcatMax];
  int64_t begin[kConcatMax + 1];
  int count;
};

template <class Idx>
__global__ void concat_kernel(ConcatTable T, float* __restrict__ dst, int64_t span, int64_t inner, int64_t dtotal,
                              int64_t c0, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const Idx q = Idx(i) / Idx(inner);
    const int64_t e = int64_t(Idx(i) - q * Idx(inner));
    const Idx o = q / Idx(span);
    const int64_t c = int64_t(q - o * Idx(span));
    int lo = 0, hi = T.count - 1;  // invariant: begin[lo] <= c
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (T.begin[mid] <= c) lo = mid;
      else hi = mid - 1;
    }
    const int64_t len = T.begin[lo + 1] - T.begin[lo];
    dst[(int64_t(o) * dtotal + c0 + c) * inner + e] = T.src[lo][(int64_t(o) * len + c - T.begin[lo]) * inner + e];
  }
}

// ---- host side ---------------------------------------------------------------

using Shape = std::vector<int64_t>;

unsigned grid_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxGrid)));
}

std::string text(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

Shape to_shape(const char* fn, const char* what, const int64_t* s, int nd) {
  if (nd < 0 || nd > kMaxDims)
    throw std::invalid_argument(std::string(fn) + ": " + what + " has " + std::to_string(nd) + " dims; 0 to " +
                                std::to_string(kMaxDims) + " are supported");
  if (nd > 0 && !s) throw std::invalid_argument(std::string(fn) + ": " + what + " pointer is null");
  Shape r(s, s + nd);
  for (int d = 0; d < nd; ++d)
    if (r[size_t(d)] < 0)
      throw std::invalid_argument(std::string(fn) + ": " + what + " " + text(r) + " has size " +
                                  std::to_string(r[size_t(d)]) + " in dim " + std::to_string(d) +
                                  " (sizes must be >= 0)");
  return r;
}

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size(), 1);
  int64_t acc = 1;
  for (size_t d = s.size(); d-- > 0;) {
    st[d] = acc;
    acc *= s[d];
  }
  return st;
}

int normalize_dim(const char* fn, const char* what, int64_t dim, int nd) {
  if (dim < -nd || dim >= nd)
    throw std::invalid_argument(std::string(fn) + ": " + what + " " + std::to_string(dim) + " is out of range for a " +
                                std::to_string(nd) + "-d tensor (must be in [" + std::to_string(-nd) + ", " +
                                std::to_string(nd - 1) + "])");
  return int(dim < 0 ? dim + nd : dim);
}

// One destination dim, outermost-first lists on the host.
struct Dim {
  int64_t size, src, dst, lo, hi, step;
};
Dim plain_dim(int64_t size, int64_t src, int64_t dst) { return Dim{size, src, dst, 0, size, 1}; }
bool is_plain(const Dim& d) { return d.lo == 0 && d.hi >= d.size && (d.step == 1 || d.size <= 1); }

// Copies over the destination space described by `dims` (outermost first).
void launch_copy(const char* fn, const float* src, float* dst, const std::vector<Dim>& dims, float fill,
                 cudaStream_t stream) {
  int64_t n = 1;
  for (const Dim& d : dims) n *= d.size;
  if (n == 0) return;
  if (!dst) throw std::invalid_argument(std::string(fn) + ": the destination pointer is null");
  // Drop plain size-1 dims, merge plain dims contiguous in both tensors (as the CPU).
  std::vector<Dim> s;
  for (const Dim& d0 : dims) {
    Dim d = d0;
    const bool plain = is_plain(d);
    if (plain) {
      if (d.size == 1) continue;
      d.lo = 0;
      d.hi = d.size;
      d.step = 1;
    }
    if (plain && !s.empty() && is_plain(s.back()) && s.back().src == d.src * d.size &&
        s.back().dst == d.dst * d.size) {
      s.back().size *= d.size;
      s.back().hi = s.back().size;
      s.back().src = d.src;
      s.back().dst = d.dst;
    } else {
      s.push_back(d);
    }
  }
  bool window = false, contig = true;
  int64_t acc = 1;
  for (size_t k = s.size(); k-- > 0;) {
    window = window || !is_plain(s[k]);
    contig = contig && s[k].dst == acc;
    acc *= s[k].size;
  }
  if (!src && !window) throw std::invalid_argument(std::string(fn) + ": the source pointer is null");
  CopyDims L{};
  L.nd = int(s.size());
  for (int k = 0; k < L.nd; ++k) {
    const Dim& d = s[size_t(L.nd - 1 - k)];
    L.size[k] = d.size;
    L.src[k] = d.src;
    L.dst[k] = d.dst;
    L.lo[k] = d.lo;
    L.hi[k] = d.hi;
    L.step[k] = d.step;
  }
  const bool s32 = n <= int64_t(UINT32_MAX);
  // Transposing permutes: the innermost output dim is strided in the source and
  // another dim is contiguous there.
  int m = -1;
  if (!window && contig && L.nd >= 2 && L.src[0] != 1 && L.size[0] >= kTransposeMin)
    for (int k = 1; k < L.nd; ++k)
      if (L.src[k] == 1 && L.size[k] >= kTransposeMin) m = k;
  if (m > 0) {
    const int64_t atiles = (L.size[m] + kTile - 1) / kTile, btiles = (L.size[0] + kTile - 1) / kTile;
    const int64_t tiles = (n / (L.size[m] * L.size[0])) * atiles * btiles;
    const unsigned grid = unsigned(std::min<int64_t>(tiles, kMaxGrid));
    if (s32)
      TESSERA_LAUNCH(transpose_kernel<uint32_t>, grid, kThreads, 0, stream)(src, dst, L, m, atiles, btiles, tiles);
    else
      TESSERA_LAUNCH(transpose_kernel<uint64_t>, grid, kThreads, 0, stream)(src, dst, L, m, atiles, btiles, tiles);
    TESSERA_CUDA_CHECK_LAUNCH();
    return;
  }
  const unsigned grid = grid_for(n);
#define TESSERA_COPY_LAUNCH(W, C)                                                                          \
  do {                                                                                                     \
    if (s32) TESSERA_LAUNCH((gather_kernel<W, C, uint32_t>), grid, kThreads, 0, stream)(src, dst, L, n, fill); \
    else TESSERA_LAUNCH((gather_kernel<W, C, uint64_t>), grid, kThreads, 0, stream)(src, dst, L, n, fill);     \
  } while (0)
  if (window && contig) TESSERA_COPY_LAUNCH(true, true);
  else if (window) TESSERA_COPY_LAUNCH(true, false);
  else if (contig) TESSERA_COPY_LAUNCH(false, true);
  else TESSERA_COPY_LAUNCH(false, false);
#undef TESSERA_COPY_LAUNCH
  TESSERA_CUDA_CHECK_LAUNCH();
}

std::vector<int> permutation(const char* fn, const Shape& x, const int64_t* dims) {
  const int nd = int(x.size());
  if (nd > 0 && !dims) throw std::invalid_argument(std::string(fn) + ": dims pointer is null");
  std::vector<int> perm(size_t(nd), 0);
  std::vector<bool> seen(size_t(nd), false);
  for (int i = 0; i < nd; ++i) {
    const int d = normalize_dim(fn, "dims entry", dims[i], nd);
    if (seen[size_t(d)])
      throw std::invalid_argument(std::string(fn) + ": dim " + std::to_string(dims[i]) +
                                  " appears more than once in dims (each dim must be listed once)");
    seen[size_t(d)] = true;
    perm[size_t(i)] = d;
  }
  return perm;
}

// y = x permuted by perm (y's dim i = x's dim perm[i]), y contiguous.
void permute_copy(const char* fn, const float* x, const Shape& xs, const std::vector<int>& perm, float* y,
                  cudaStream_t stream) {
  const Shape xst = contiguous_strides(xs);
  Shape ys(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) ys[i] = xs[size_t(perm[i])];
  const Shape yst = contiguous_strides(ys);
  std::vector<Dim> dims;
  for (size_t i = 0; i < xs.size(); ++i) dims.push_back(plain_dim(ys[i], xst[size_t(perm[i])], yst[i]));
  launch_copy(fn, x, y, dims, 0.0f, stream);
}

struct SliceSpec {
  int dim;
  int64_t start, step, count, n, outer, inner;
};

SliceSpec slice_spec(const char* fn, const Shape& xs, int64_t dim, int64_t start, int64_t end, int64_t step) {
  const int nd = int(xs.size());
  if (nd == 0) throw std::invalid_argument(std::string(fn) + ": x must have at least one dim, got a 0-d tensor");
  SliceSpec s;
  s.dim = normalize_dim(fn, "dim", dim, nd);
  if (step < 1) throw std::invalid_argument(std::string(fn) + ": step " + std::to_string(step) + " must be >= 1");
  const int64_t n = xs[size_t(s.dim)];
  auto clamp = [n](int64_t v) {
    if (v < 0) v = v < -n ? 0 : v + n;
    return std::min(std::max<int64_t>(v, 0), n);
  };
  const int64_t b = clamp(start), e = clamp(end);
  s.start = b;
  s.step = step;
  s.count = e > b ? 1 + (e - b - 1) / step : 0;
  s.n = n;
  s.outer = 1;
  s.inner = 1;
  for (int d = 0; d < s.dim; ++d) s.outer *= xs[size_t(d)];
  for (int d = s.dim + 1; d < nd; ++d) s.inner *= xs[size_t(d)];
  return s;
}

struct PadSpec {
  Shape before, after, out;
};

PadSpec pad_spec(const char* fn, const Shape& xs, const int64_t* pads, int num_pads) {
  const int nd = int(xs.size());
  if (num_pads < 0 || num_pads % 2 != 0)
    throw std::invalid_argument(std::string(fn) + ": pads must have an even number of entries ([before_last, " +
                                "after_last, before_2nd_last, ...]), got " + std::to_string(num_pads));
  if (num_pads > 2 * nd)
    throw std::invalid_argument(std::string(fn) + ": pads has " + std::to_string(num_pads) + " entries but a " +
                                std::to_string(nd) + "-d tensor allows at most " + std::to_string(2 * nd));
  if (num_pads > 0 && !pads) throw std::invalid_argument(std::string(fn) + ": pads pointer is null");
  PadSpec p;
  p.before.assign(size_t(nd), 0);
  p.after.assign(size_t(nd), 0);
  for (int i = 0; i < num_pads; ++i) {
    if (pads[i] < 0)
      throw std::invalid_argument(std::string(fn) + ": pads[" + std::to_string(i) + "] = " +
                                  std::to_string(pads[i]) +
                                  " is negative; negative padding (cropping) is not supported, use slice");
    const int d = nd - 1 - i / 2;
    (i % 2 ? p.after : p.before)[size_t(d)] = pads[i];
  }
  p.out = xs;
  for (int d = 0; d < nd; ++d) p.out[size_t(d)] += p.before[size_t(d)] + p.after[size_t(d)];
  return p;
}

struct ConcatSpec {
  int dim;
  int64_t outer, inner, total;
  Shape begin;  // begin[k]: input k's first coordinate along dim (num_inputs + 1 entries)
};

ConcatSpec concat_spec(const char* fn, int num_inputs, const Shape& shape, const int64_t* dim_sizes, int64_t dim) {
  const int nd = int(shape.size());
  if (num_inputs < 1)
    throw std::invalid_argument(std::string(fn) + ": num_inputs = " + std::to_string(num_inputs) +
                                " (needs at least one input)");
  if (nd == 0) throw std::invalid_argument(std::string(fn) + ": inputs must have at least one dim, got 0-d");
  if (!dim_sizes) throw std::invalid_argument(std::string(fn) + ": dim_sizes pointer is null");
  ConcatSpec c;
  c.dim = normalize_dim(fn, "dim", dim, nd);
  c.outer = 1;
  c.inner = 1;
  for (int d = 0; d < c.dim; ++d) c.outer *= shape[size_t(d)];
  for (int d = c.dim + 1; d < nd; ++d) c.inner *= shape[size_t(d)];
  c.begin.assign(size_t(num_inputs) + 1, 0);
  for (int k = 0; k < num_inputs; ++k) {
    if (dim_sizes[k] < 0)
      throw std::invalid_argument(std::string(fn) + ": dim_sizes[" + std::to_string(k) + "] = " +
                                  std::to_string(dim_sizes[k]) + " must be >= 0");
    c.begin[size_t(k) + 1] = c.begin[size_t(k)] + dim_sizes[k];
  }
  c.total = c.begin.back();
  return c;
}

}  // namespace

void strided_copy(const float* src, const int64_t* src_strides, float* dst, const int64_t* dst_strides,
                  const int64_t* shape, int ndim, cudaStream_t stream) {
  const char* fn = "strided_copy";
  const Shape s = to_shape(fn, "shape", shape, ndim);
  if (ndim > 0 && (!src_strides || !dst_strides))
    throw std::invalid_argument("strided_copy: stride pointers must be non-null");
  std::vector<Dim> dims;
  for (int d = 0; d < ndim; ++d) dims.push_back(plain_dim(s[size_t(d)], src_strides[d], dst_strides[d]));
  launch_copy(fn, src, dst, dims, 0.0f, stream);
}

std::vector<int64_t> permute_output_shape(const int64_t* x_shape, int ndim, const int64_t* dims) {
  const char* fn = "permute_output_shape";
  const Shape xs = to_shape(fn, "x shape", x_shape, ndim);
  const std::vector<int> perm = permutation(fn, xs, dims);
  Shape ys(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) ys[i] = xs[size_t(perm[i])];
  return ys;
}

void permute_forward(const float* x, const int64_t* x_shape, int ndim, const int64_t* dims, float* y,
                     cudaStream_t stream) {
  const char* fn = "permute_forward";
  const Shape xs = to_shape(fn, "x shape", x_shape, ndim);
  permute_copy(fn, x, xs, permutation(fn, xs, dims), y, stream);
}

void permute_backward(const float* gy, const int64_t* x_shape, int ndim, const int64_t* dims, float* gx,
                      cudaStream_t stream) {
  const char* fn = "permute_backward";
  const Shape xs = to_shape(fn, "x shape", x_shape, ndim);
  const std::vector<int> perm = permutation(fn, xs, dims);
  std::vector<int> inverse(perm.size());
  Shape ys(xs.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    inverse[size_t(perm[i])] = int(i);
    ys[i] = xs[size_t(perm[i])];
  }
  permute_copy(fn, gy, ys, inverse, gx, stream);
}

std::vector<int64_t> slice_output_shape(const int64_t* x_shape, int ndim, int64_t dim, int64_t start, int64_t end,
                                        int64_t step) {
  const char* fn = "slice_output_shape";
  Shape xs = to_shape(fn, "x shape", x_shape, ndim);
  const SliceSpec s = slice_spec(fn, xs, dim, start, end, step);
  xs[size_t(s.dim)] = s.count;
  return xs;
}

void slice_forward(const float* x, const int64_t* x_shape, int ndim, int64_t dim, int64_t start, int64_t end,
                   int64_t step, float* y, cudaStream_t stream) {
  const char* fn = "slice_forward";
  const SliceSpec s = slice_spec(fn, to_shape(fn, "x shape", x_shape, ndim), dim, start, end, step);
  // y [outer, count, inner] <- x [outer, n, inner] at start + j step
  const std::vector<Dim> dims = {plain_dim(s.outer, s.n * s.inner, s.count * s.inner),
                                 plain_dim(s.count, s.step * s.inner, s.inner), plain_dim(s.inner, 1, 1)};
  if (s.outer * s.count * s.inner == 0) return;
  if (!x) throw std::invalid_argument("slice_forward: x is null");
  launch_copy(fn, x + s.start * s.inner, y, dims, 0.0f, stream);
}

void slice_backward(const float* gy, const int64_t* x_shape, int ndim, int64_t dim, int64_t start, int64_t end,
                    int64_t step, float* gx, cudaStream_t stream) {
  const char* fn = "slice_backward";
  const SliceSpec s = slice_spec(fn, to_shape(fn, "x shape", x_shape, ndim), dim, start, end, step);
  // gx [outer, n, inner]: position p along dim reads gy's (p - start) / step when
  // that is a whole number in [0, count), else 0.
  Dim d{s.n, s.inner, s.inner, s.start, s.count > 0 ? (s.count - 1) * s.step + 1 : 0, s.step};
  const std::vector<Dim> dims = {plain_dim(s.outer, s.count * s.inner, s.n * s.inner), d, plain_dim(s.inner, 1, 1)};
  launch_copy(fn, gy, gx, dims, 0.0f, stream);
}

std::vector<int64_t> pad_output_shape(const int64_t* x_shape, int ndim, const int64_t* pads, int num_pads) {
  const char* fn = "pad_output_shape";
  return pad_spec(fn, to_shape(fn, "x shape", x_shape, ndim), pads, num_pads).out;
}

void pad_forward(const float* x, const int64_t* x_shape, int ndim, const int64_t* pads, int num_pads, float value,
                 float* y, cudaStream_t stream) {
  const char* fn = "pad_forward";
  const Shape xs = to_shape(fn, "x shape", x_shape, ndim);
  const PadSpec p = pad_spec(fn, xs, pads, num_pads);
  const Shape xst = contiguous_strides(xs), yst = contiguous_strides(p.out);
  std::vector<Dim> dims;
  for (size_t d = 0; d < xs.size(); ++d)
    dims.push_back(Dim{p.out[d], xst[d], yst[d], p.before[d], xs[d], 1});
  launch_copy(fn, x, y, dims, value, stream);
}

void pad_backward(const float* gy, const int64_t* x_shape, int ndim, const int64_t* pads, int num_pads, float* gx,
                  cudaStream_t stream) {
  const char* fn = "pad_backward";
  const Shape xs = to_shape(fn, "x shape", x_shape, ndim);
  const PadSpec p = pad_spec(fn, xs, pads, num_pads);
  if (numel_of(xs) == 0) return;
  if (!gy) throw std::invalid_argument("pad_backward: gy is null");
  const Shape gst = contiguous_strides(p.out), xst = contiguous_strides(xs);
  int64_t offset = 0;
  std::vector<Dim> dims;
  for (size_t d = 0; d < xs.size(); ++d) {
    offset += p.before[d] * gst[d];
    dims.push_back(plain_dim(xs[d], gst[d], xst[d]));
  }
  launch_copy(fn, gy + offset, gx, dims, 0.0f, stream);
}

void concat_forward(const float* const* xs, int num_inputs, const int64_t* shape, int ndim,
                    const int64_t* dim_sizes, int64_t dim, float* y, cudaStream_t stream) {
  const char* fn = "concat_forward";
  const ConcatSpec c = concat_spec(fn, num_inputs, to_shape(fn, "shape", shape, ndim), dim_sizes, dim);
  const int64_t n = c.outer * c.total * c.inner;
  if (n == 0) return;
  if (!xs || !y) throw std::invalid_argument("concat_forward: xs and y must be non-null");
  // Groups of up to 32 non-empty inputs, each launch covering its span along dim.
  int k = 0;
  while (k < num_inputs) {
    ConcatTable T{};
    const int64_t c0 = c.begin[size_t(k)];
    for (; k < num_inputs && T.count < kConcatMax; ++k) {
      if (dim_sizes[k] == 0) continue;
      if (!xs[k])
        throw std::invalid_argument(std::string(fn) + ": xs[" + std::to_string(k) + "] is null (dim size " +
                                    std::to_string(dim_sizes[k]) + ")");
      T.src[T.count] = xs[k];
      T.begin[T.count] = c.begin[size_t(k)] - c0;
      ++T.count;
    }
    if (T.count == 0) break;
    const int64_t span = c.begin[size_t(k)] - c0;
    T.begin[T.count] = span;
    const int64_t m = c.outer * span * c.inner;
    if (m <= int64_t(UINT32_MAX))
      TESSERA_LAUNCH(concat_kernel<uint32_t>, grid_for(m), kThreads, 0, stream)(T, y, span, c.inner, c.total, c0, m);
    else
      TESSERA_LAUNCH(concat_kernel<uint64_t>, grid_for(m), kThreads, 0, stream)(T, y, span, c.inner, c.total, c0, m);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
}

void concat_backward(const float* gy, int num_inputs, const int64_t* shape, int ndim, const int64_t* dim_sizes,
                     int64_t dim, float* const* gxs, cudaStream_t stream) {
  const char* fn = "concat_backward";
  const ConcatSpec c = concat_spec(fn, num_inputs, to_shape(fn, "shape", shape, ndim), dim_sizes, dim);
  if (!gxs) throw std::invalid_argument("concat_backward: gxs must be non-null (entries may be null)");
  for (int k = 0; k < num_inputs; ++k) {
    if (!gxs[k]) continue;
    const int64_t len = dim_sizes[k];
    // gx_k [outer, len inner] <- gy [outer, total inner] at column begin_k inner
    const std::vector<Dim> dims = {plain_dim(c.outer, c.total * c.inner, len * c.inner),
                                   plain_dim(len * c.inner, 1, 1)};
    if (c.outer * len * c.inner == 0) continue;
    if (!gy) throw std::invalid_argument("concat_backward: gy is null");
    launch_copy(fn, gy + c.begin[size_t(k)] * c.inner, gxs[k], dims, 0.0f, stream);
  }
}

}  // namespace cuda
}  // namespace tessera
