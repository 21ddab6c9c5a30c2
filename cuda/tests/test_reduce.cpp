// Parity: cuda/reduce.cu against the CPU ops sum / mean (op table,
// native/ops/reduce.cpp + native/cpu/reduce.cpp): forward and backward over shapes
// that reach every case of the CPU's dispatch (nothing reduced, [R], [K, R] short /
// 64-lane / several 4096 blocks, [R, K] and [K, R, K] with one or several 256-row
// blocks, [R, K, R], 4 or more groups), keepdim, 0-d and empty tensors.
// The CPU uses only additions in a fixed order, so every result must be bit-identical.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/op.h"
#include "core/tensor.h"
#include "parity.h"
#include "reduce.h"
#include "tests/check.h"

using tessera::Shape;
using tessera::Tensor;
using tessera_parity::Dev;
using tessera_parity::randv;
namespace cu = tessera::cuda;

namespace {

using tessera::shape_numel;
using tessera_parity::host;

// entries whose bits differ (NaN matches NaN); *max_abs = max |a - b|
int64_t not_bitwise(const std::vector<float>& a, const std::vector<float>& b, double* max_abs) {
  if (a.size() != b.size()) return 1 << 30;
  int64_t c = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      c += std::isnan(a[i]) != std::isnan(b[i]);
      continue;
    }
    c += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
    *max_abs = std::fmax(*max_abs, std::fabs(double(a[i]) - b[i]));
  }
  return c;
}

double g_fwd = 0, g_bwd = 0;
int g_cases = 0;

void run1(bool mean, const Shape& shape, const std::vector<int64_t>& dims, bool keepdim, uint64_t seed) {
  const char* name = mean ? "mean" : "sum";
  const int64_t n = shape_numel(shape);
  Tensor X = Tensor::from_f32(randv(n, seed, 2.0f, 0.3f).data(), shape);
  tessera::OpParams params{{"keepdim", keepdim}};
  if (!dims.empty()) params.set("dims", dims);
  const Shape out_shape =
      cu::reduce_output_shape(shape.data(), int(shape.size()), dims.data(), int(dims.size()), keepdim);
  Tensor G = Tensor::from_f32(randv(shape_numel(out_shape), seed + 1).data(), out_shape);
  std::vector<Tensor> outs;
  std::vector<Tensor> grads = tessera::run_op_backward(name, {X}, params, {G}, &outs);
  CHECK(outs[0].shape() == out_shape);

  const int64_t wsn = cu::reduce_workspace_floats(shape.data(), int(shape.size()), dims.data(), int(dims.size()));
  Dev dx(host(X)), dg(host(G)), dout(static_cast<size_t>(shape_numel(out_shape))), dgx(static_cast<size_t>(n));
  Dev ws(static_cast<size_t>(wsn));
  if (mean) {
    cu::mean_forward(dx.p, shape.data(), int(shape.size()), dims.data(), int(dims.size()), dout.p, ws.p, 0);
    cu::mean_backward(dg.p, shape.data(), int(shape.size()), dims.data(), int(dims.size()), dgx.p, 0);
  } else {
    cu::sum_forward(dx.p, shape.data(), int(shape.size()), dims.data(), int(dims.size()), dout.p, ws.p, 0);
    cu::sum_backward(dg.p, shape.data(), int(shape.size()), dims.data(), int(dims.size()), dgx.p, 0);
  }
  double ef = 0, eb = 0;
  const int64_t bf = not_bitwise(dout.get(), host(outs[0]), &ef), bb = not_bitwise(dgx.get(), host(grads[0]), &eb);
  std::string ds = "[";
  for (size_t i = 0; i < dims.size(); ++i) ds += (i ? "," : "") + std::to_string(dims[i]);
  ds += "]";
  std::printf("  %s %s dims %s%s -> %s (ws %lld): fwd %.3g (%lld not bitwise), bwd %.3g (%lld not bitwise)\n", name,
              tessera::shape_str(shape).c_str(), ds.c_str(), keepdim ? " keepdim" : "",
              tessera::shape_str(out_shape).c_str(), (long long)wsn, ef, (long long)bf, eb, (long long)bb);
  g_fwd = std::fmax(g_fwd, ef);
  g_bwd = std::fmax(g_bwd, eb);
  ++g_cases;
  CHECK(bf == 0);
  CHECK(bb == 0);
}

void run(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim, uint64_t seed) {
  run1(false, shape, dims, keepdim, seed);
  run1(true, shape, dims, keepdim, seed + 7);
}

}  // namespace

TEST_CASE(reduce_small_cases) {
  run({3, 5, 7}, {}, false, 10);          // [R]: one row of 105 (64 lanes)
  run({3, 1, 7}, {1}, true, 11);          // nothing of size > 1 reduced
  run({3, 5, 7}, {2}, false, 12);         // [K, R] short rows
  run({3, 5, 7}, {-3}, true, 13);         // [R, K]
  run({3, 5, 7}, {1}, false, 14);         // [K, R, K]
  run({3, 5, 7}, {0, 2}, false, 15);      // [R, K, R] short rows
  run({2, 3, 4, 5, 6}, {0, 2, 4}, false, 16);  // rank 5, 5 groups
  run({2, 3, 4, 5, 6}, {1, -2}, true, 17);     // rank 5, [K, R, K, R, K]
  run({7}, {0}, false, 18);               // rank 1
  run({7}, {}, true, 19);
  run({1}, {}, false, 20);
  run({}, {}, false, 21);                 // 0-d
  run({}, {-1}, true, 22);
  run({4, 1, 1, 3}, {1, 2}, false, 23);   // only size-1 dims reduced
}

TEST_CASE(reduce_blocks) {
  run({3, 100}, {-1}, false, 30);         // [K, R] 64 lanes, one block
  run({2, 9000}, {1}, false, 31);         // [K, R] 3 blocks of 4096
  run({600, 3}, {0}, false, 32);          // [R, K] 3 blocks of 256 rows
  run({2, 700, 3}, {1}, true, 33);        // [K, R, K] 3 blocks
  run({3, 4, 100}, {0, 2}, false, 34);    // [R, K, R] 64 lanes
  run({2, 3, 5000}, {0, 2}, false, 35);   // [R, K, R] 2 blocks per row
  run({3, 10, 2, 20, 2}, {1, 3}, false, 36);  // 5 groups, rows of 200 (lanes, strided)
  run({2, 70, 2, 70, 2}, {1, 3}, false, 37);  // 5 groups, rows of 4900 (2 blocks, strided)
  run({2, 3, 11, 5}, {0, 2}, false, 38);  // [R, K, R, K]: 4 groups, short strided rows
  run({70000}, {}, false, 39);            // [R]: 18 blocks
}

TEST_CASE(reduce_empty) {
  run({0, 3}, {0}, false, 40);            // empty reduction: 0 / NaN
  run({0, 3}, {1}, false, 41);            // empty output
  run({2, 0}, {}, true, 42);
}

TEST_CASE(reduce_invalid_arguments) {
  Shape s{3, 4};
  auto throws = [&](std::vector<int64_t> dims, const char* text) {
    try {
      cu::reduce_workspace_floats(s.data(), 2, dims.data(), int(dims.size()));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what()).find(text) != std::string::npos;
    }
    return false;
  };
  CHECK(throws({2}, "dims entry 2 is out of range"));
  CHECK(throws({-3}, "dims entry -3 is out of range"));
  CHECK(throws({1, -1}, "appears more than once"));
  bool threw = false;
  try {
    std::vector<int64_t> dims{1};
    Shape big{2, 9000};
    Dev x(randv(18000, 1)), out(2);
    cu::sum_forward(x.p, big.data(), 2, dims.data(), 1, out.p, nullptr, 0);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("workspace") != std::string::npos;
  }
  CHECK(threw);
}

TEST_CASE(reduce_summary) {
  std::printf("  %d cases, max errors: forward %.3g, backward %.3g\n", g_cases, g_fwd, g_bwd);
}

TEST_MAIN()
