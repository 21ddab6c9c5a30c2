// 3-d rotary position embedding, forward and backward (formulas in rope.h).
//
// Rows are the B*H*N vectors of Dh channels, visited in n-major order (all B*H
// rows of token 0, then token 1, ...) and split over threads by parallel_for. For
// each token a thread computes the cos/sin row once in double (rope3d_frequency,
// one sincos per channel pair), stored per channel so the rotation is
//   y[k] = x[k] c[k] + x[k ^ 1] s[k]
// with c[2i] = c[2i+1] = cos a_i and s = (-sin a_i, +sin a_i) (forward) or
// (+sin a_i, -sin a_i) (backward), then rotates every B*H row of that token with
// a loop GCC vectorizes (compiled per instruction set, TESSERA_ISA_DISPATCH).
// Each element is computed by the same code whatever the split: results are
// bit-identical for any thread count.
#include "cpu/rope.h"

#include <algorithm>
#include <vector>

#include "core/cpu_features.h"
#include "core/threadpool.h"

namespace tessera {
namespace cpu {

namespace {

constexpr int64_t kGrainElems = 16384;

// One row: y[k] = x[k] c[k] + x[k ^ 1] s[k] over the dh channels.
TESSERA_INLINE void rope_rotate_row(const float* __restrict x, float* __restrict y, const float* __restrict c,
                                    const float* __restrict s, int64_t dh) {
  for (int64_t k = 0; k < dh; k += 2) {
    const float x0 = x[k], x1 = x[k + 1];
    y[k] = x0 * c[k] + x1 * s[k];
    y[k + 1] = x1 * c[k + 1] + x0 * s[k + 1];
  }
}

// `rows` rows `stride` floats apart, all with the cos / signed-sin row of one token.
template <Isa I>
TESSERA_INLINE void rope_rotate_rows_impl(const float* x, float* y, const float* c, const float* s, int64_t dh,
                                          int64_t stride, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) rope_rotate_row(x + r * stride, y + r * stride, c, s, dh);
}
TESSERA_ISA_DISPATCH(rope_rotate_rows, rope_rotate_rows_impl,
                     (const float* x, float* y, const float* c, const float* s, int64_t dh, int64_t stride,
                      int64_t rows),
                     (x, y, c, s, dh, stride, rows))

struct Plan {
  std::vector<double> freq;  // per pair
  std::vector<int> axis;     // per pair: 0 = t, 1 = h, 2 = w
};

Plan make_plan(int64_t dh, int64_t st, int64_t sh, int64_t sw, double theta) {
  Plan p;
  p.freq.reserve(size_t(dh / 2));
  p.axis.reserve(size_t(dh / 2));
  const int64_t sec[3] = {st, sh, sw};
  for (int a = 0; a < 3; ++a)
    for (int64_t i = 0; i < sec[a] / 2; ++i) {
      p.freq.push_back(rope3d_frequency(i, sec[a], theta));
      p.axis.push_back(a);
    }
  return p;
}

// c[2i] = c[2i+1] = cos a_i; s[2i] = -sign sin a_i, s[2i+1] = sign sin a_i
// (sign = +1 forward, -1 backward), a_i = double(p[axis_i]) * f_i.
void fill_row(const float* pos, const Plan& plan, double sign, float* c, float* s) {
  const int64_t pairs = int64_t(plan.freq.size());
  for (int64_t i = 0; i < pairs; ++i) {
    const double a = double(pos[plan.axis[size_t(i)]]) * plan.freq[size_t(i)];
    const float ca = float(std::cos(a));
    const float sa = float(sign * std::sin(a));
    c[2 * i] = ca;
    c[2 * i + 1] = ca;
    s[2 * i] = -sa;
    s[2 * i + 1] = sa;
  }
}

void rope3d_apply(const float* x, const float* positions, float* y, int64_t B, int64_t H, int64_t N, int64_t Dh,
                  int64_t st, int64_t sh, int64_t sw, double theta, double sign) {
  const int64_t bh = B * H;
  if (bh == 0 || N == 0 || Dh == 0) return;
  const Plan plan = make_plan(Dh, st, sh, sw, theta);
  const int64_t row_stride = N * Dh;  // between consecutive (b, h) rows of one token
  parallel_for(N * bh, std::max<int64_t>(1, kGrainElems / Dh), [&](int64_t r0, int64_t r1) {
    std::vector<float> table(size_t(2 * Dh));  // cos row, then signed-sin row
    float* c = table.data();
    float* s = c + Dh;
    for (int64_t n = r0 / bh; n * bh < r1; ++n) {
      const int64_t j0 = std::max<int64_t>(r0 - n * bh, 0), j1 = std::min<int64_t>(r1 - n * bh, bh);
      fill_row(positions + 3 * n, plan, sign, c, s);
      const int64_t off = j0 * row_stride + n * Dh;
      rope_rotate_rows(x + off, y + off, c, s, Dh, row_stride, j1 - j0);
    }
  });
}

}  // namespace

bool rope3d_default_sections(int64_t head_dim, int64_t out[3]) {
  if (head_dim < 6 || head_dim % 2 != 0) return false;
  const int64_t shw = 2 * ((3 * head_dim) / 16);
  const int64_t st = head_dim - 2 * shw;
  if (shw <= 0 || st <= 0 || st % 2 != 0) return false;
  out[0] = st;
  out[1] = shw;
  out[2] = shw;
  return true;
}

void rope3d_forward(const float* x, const float* positions, float* y, int64_t B, int64_t H, int64_t N, int64_t Dh,
                    int64_t st, int64_t sh, int64_t sw, double theta) {
  rope3d_apply(x, positions, y, B, H, N, Dh, st, sh, sw, theta, 1.0);
}

void rope3d_backward(const float* dy, const float* positions, float* dx, int64_t B, int64_t H, int64_t N,
                     int64_t Dh, int64_t st, int64_t sh, int64_t sw, double theta) {
  rope3d_apply(dy, positions, dx, B, H, N, Dh, st, sh, sw, theta, -1.0);
}

}  // namespace cpu
}  // namespace tessera
