// Parity: cuda/softmax.cu against native/cpu/softmax (forward, backward, -inf entries).
#include <cmath>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "cpu/softmax.h"
#include "softmax.h"
#include "parity.h"
#include "tests/check.h"

using tessera::Tensor;
using tessera_parity::Dev;
using tessera_parity::randv;

namespace {

// max |a - b| over entries; NaN must match NaN (counted in *nan_mismatch)
double max_abs(const std::vector<float>& a, const std::vector<float>& b, int* nan_mismatch) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      if (std::isnan(a[i]) != std::isnan(b[i])) ++*nan_mismatch;
      continue;
    }
    m = std::fmax(m, std::fabs(double(a[i]) - b[i]));
  }
  return m;
}

void run(int64_t rows, int64_t cols, bool with_inf) {
  const int64_t n = rows * cols;
  auto x = randv(n, 100 + n, 4.0f), gy = randv(n, 200 + n);
  if (with_inf) {
    const float ninf = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; i += 3) x[i] = ninf;               // scattered masked entries
    if (rows > 2) for (int64_t j = 0; j < cols; ++j) x[1 * cols + j] = ninf;  // row 1 fully masked: NaN
  }
  std::vector<float> y(n), gx(n);
  tessera::cpu::softmax_forward(x.data(), y.data(), rows, cols);
  tessera::cpu::softmax_backward(y.data(), gy.data(), gx.data(), rows, cols);
  Dev dx(x), dy(n), dgy(gy), dgx(n);
  tessera::cuda::softmax_forward(dx.p, dy.p, rows, cols, 0);
  // backward from the CPU y, so the check isolates the backward kernel
  Dev dyc(y);
  tessera::cuda::softmax_backward(dyc.p, dgy.p, dgx.p, rows, cols, 0);
  int nan_mm = 0;
  const double ey = max_abs(dy.get(), y, &nan_mm), eg = max_abs(dgx.get(), gx, &nan_mm);
  std::printf("  softmax [%lld,%lld]%s: fwd %.3g bwd %.3g\n", (long long)rows, (long long)cols,
              with_inf ? " -inf" : "", ey, eg);
  // tolerance: probabilities in [0,1]; expf vs vm::exp and different sum orders -> ~1e-7 abs
  CHECK(ey < 1e-6);
  // tolerance: |gy| ~ 4 max, cancellation in gy - d -> ~1e-6 abs
  CHECK(eg < 5e-6);
  CHECK(nan_mm == 0);
}

}  // namespace

TEST_CASE(softmax_fwd_bwd) {
  run(1, 1, false);
  run(3, 7, false);
  run(5, 33, false);
  run(9, 100, false);
  run(13, 1031, false);
}

TEST_CASE(softmax_neg_inf) {
  run(5, 17, true);
  run(7, 130, true);
}

TEST_MAIN()
