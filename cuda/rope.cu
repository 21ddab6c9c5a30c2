// cuda/rope.cu — 3-d rotary position embedding (formulas in rope.h).
//
// One thread per (token n, channel pair j): q = n * (Dh / 2) + j, so consecutive
// threads take consecutive pairs, i.e. consecutive 8-byte (x[2j], x[2j+1]) slots of
// a [N, Dh] slab (one float2 load and store per row when the pointers are 8-byte
// aligned, two coalesced floats otherwise). A thread computes its angle once —
// f_j and a = p * f_j in double, then cos a and sin a rounded once to float,
// exactly as the CPU kernel (native/cpu/rope.cpp) does — and then walks the
// (b, h) rows bh = blockIdx.y, blockIdx.y + gridDim.y, ..., rotating in fp32.
// No shared memory, no barriers, no atomics: each output element is written by
// one thread with a fixed formula, whatever the schedule.
#include "rope.h"
#include "check.h"

#include <cstdint>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kTargetBlocks = 4096;  // enough blocks to fill an H100/H200 several times over

// Pair j -> coordinate axis (0 = t, 1 = h, 2 = w), index i within its section, section size s.
// f = theta^(-(2 i) / s);  a = double(p[axis]) * f;  c = float(cos a);  sa = float(sign * sin a)
// (sign = +1 forward, -1 backward: the transpose rotation)
// y[2j]   = x[2j] c + x[2j+1] (-sa)
// y[2j+1] = x[2j+1] c + x[2j] sa
template <bool kVec2>
__global__ void rope3d_kernel(const float* __restrict__ x, const float* __restrict__ pos, float* __restrict__ y,
                              int64_t rows, int64_t N, int64_t pairs, int64_t st, int64_t sh, int64_t sw,
                              double theta, double sign) {
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= N * pairs) return;
  const int64_t n = q / pairs, j = q % pairs;
  int axis;
  int64_t i, s;
  if (j < st / 2) {
    axis = 0, i = j, s = st;
  } else if (j < (st + sh) / 2) {
    axis = 1, i = j - st / 2, s = sh;
  } else {
    axis = 2, i = j - (st + sh) / 2, s = sw;
  }
  const double f = pow(theta, -(2.0 * double(i)) / double(s));
  const double a = double(pos[3 * n + axis]) * f;
  double sd, cd;
  sincos(a, &sd, &cd);
  const float c = float(cd);
  const float sa = float(sign * sd);
  const int64_t slab = N * pairs * 2;  // floats between consecutive (b, h) rows of one token
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t off = r * slab + 2 * q;
    if (kVec2) {
      const float2 v = *reinterpret_cast<const float2*>(x + off);
      float2 o;
      o.x = v.x * c + v.y * (-sa);
      o.y = v.y * c + v.x * sa;
      *reinterpret_cast<float2*>(y + off) = o;
    } else {
      const float x0 = x[off], x1 = x[off + 1];
      y[off] = x0 * c + x1 * (-sa);
      y[off + 1] = x1 * c + x0 * sa;
    }
  }
}

void launch(const float* x, const float* pos, float* y, int64_t B, int64_t H, int64_t N, int64_t Dh, int64_t st,
            int64_t sh, int64_t sw, double theta, double sign, cudaStream_t stream) {
  const int64_t rows = B * H, pairs = Dh / 2;
  if (rows <= 0 || N <= 0 || pairs <= 0) return;
  const int64_t blocks_x = (N * pairs + kThreads - 1) / kThreads;
  int64_t blocks_y = (kTargetBlocks + blocks_x - 1) / blocks_x;
  if (blocks_y > rows) blocks_y = rows;
  if (blocks_y > 65535) blocks_y = 65535;
  if (blocks_y < 1) blocks_y = 1;
  const dim3 grid{unsigned(blocks_x), unsigned(blocks_y), 1u};
  const bool vec2 = ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) & 7u) == 0;
  if (vec2) {
    TESSERA_LAUNCH(rope3d_kernel<true>, grid, kThreads, 0, stream)(x, pos, y, rows, N, pairs, st, sh, sw, theta, sign);
    TESSERA_CUDA_CHECK_LAUNCH();
  } else {
    TESSERA_LAUNCH(rope3d_kernel<false>, grid, kThreads, 0, stream)(x, pos, y, rows, N, pairs, st, sh, sw, theta,
                                                                     sign);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

void rope3d_forward(const float* x, const float* positions, float* y, int64_t B, int64_t H, int64_t N, int64_t Dh,
                    int64_t st, int64_t sh, int64_t sw, double theta, cudaStream_t stream) {
  launch(x, positions, y, B, H, N, Dh, st, sh, sw, theta, 1.0, stream);
}

void rope3d_backward(const float* dy, const float* positions, float* dx, int64_t B, int64_t H, int64_t N,
                     int64_t Dh, int64_t st, int64_t sh, int64_t sw, double theta, cudaStream_t stream) {
  launch(dy, positions, dx, B, H, N, Dh, st, sh, sw, theta, -1.0, stream);
}

}  // namespace cuda
}  // namespace tessera
