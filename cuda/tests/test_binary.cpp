// Parity: cuda/binary.cu against the CPU ops add / sub / mul / scale (op table,
// native/ops/elementwise.cpp): forward and both input gradients over broadcast
// shapes that reach every path of the CPU's reduce_broadcast_grad (elementwise,
// one-element layout, last dim kept with one or several row blocks, last dim
// reduced with one or several segment blocks, other operand broadcast along the
// last dim).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "binary.h"
#include "core/cpu_features.h"
#include "core/op.h"
#include "core/tensor.h"
#include "parity.h"
#include "tests/check.h"

using tessera::Shape;
using tessera::Tensor;
using tessera_parity::Dev;
using tessera_parity::randv;
namespace cu = tessera::cuda;

namespace {

using tessera::shape_numel;
using tessera_parity::host;

struct Diff {
  double max_abs = 0;  // max |gpu - cpu|
  double max_rel = 0;  // max |gpu - cpu| / max(1, |cpu|)
  int64_t not_bitwise = 0;
};
Diff diff(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  Diff d;
  if (gpu.size() != cpu.size()) {
    d.not_bitwise = 1 << 30;
    d.max_abs = 1e30;
    return d;
  }
  for (size_t i = 0; i < gpu.size(); ++i) {
    if (std::memcmp(&gpu[i], &cpu[i], sizeof(float)) != 0) ++d.not_bitwise;
    const double e = std::fabs(double(gpu[i]) - cpu[i]);
    d.max_abs = std::fmax(d.max_abs, e);
    d.max_rel = std::fmax(d.max_rel, e / std::fmax(1.0, std::fabs(double(cpu[i]))));
  }
  return d;
}

double g_fwd = 0, g_bwd = 0, g_mul_bwd = 0;

// The CPU's AVX2 / AVX-512 kernels contract mul's float lane updates into FMAs, as
// the CUDA kernel does on purpose; the generic CPU path rounds the product first.
// Tolerance there: 16 float adds per lane of O(1) products -> a few ulp of the sum
// relative to max(1, |value|): 1e-5.
bool cpu_has_fma() { return tessera::cpu_isa() != tessera::Isa::Generic; }

const char* op_name(cu::BinaryOp op) {
  return op == cu::BinaryOp::Add ? "add" : op == cu::BinaryOp::Sub ? "sub" : "mul";
}

void run(cu::BinaryOp op, const Shape& sa, const Shape& sb, uint64_t seed) {
  const char* name = op_name(op);
  const int64_t na = shape_numel(sa), nb = shape_numel(sb);
  Tensor A = Tensor::from_f32(randv(na, seed, 1.5f, 0.25f).data(), sa);
  Tensor B = Tensor::from_f32(randv(nb, seed + 1, 1.5f, -0.25f).data(), sb);
  std::vector<Tensor> outs;
  const Shape so = cu::broadcast_shape(sa.data(), int(sa.size()), sb.data(), int(sb.size()));
  const int64_t no = shape_numel(so);
  Tensor G = Tensor::from_f32(randv(no, seed + 2).data(), so);
  std::vector<Tensor> grads = tessera::run_op_backward(name, {A, B}, {}, {G}, &outs);
  CHECK(outs[0].shape() == so);

  Dev da(host(A)), db(host(B)), dg(host(G));
  Dev dout(static_cast<size_t>(no)), dga(static_cast<size_t>(na)), dgb(static_cast<size_t>(nb));
  const int64_t wsn = cu::binary_backward_workspace_floats(op, sa.data(), int(sa.size()), sb.data(), int(sb.size()));
  Dev ws(static_cast<size_t>(wsn));
  cu::binary_forward(op, da.p, sa.data(), int(sa.size()), db.p, sb.data(), int(sb.size()), dout.p, 0);
  cu::binary_backward(op, da.p, sa.data(), int(sa.size()), db.p, sb.data(), int(sb.size()), dg.p, dga.p, dgb.p,
                      ws.p, 0);
  const Diff f = diff(dout.get(), host(outs[0]));
  const Diff ga = diff(dga.get(), host(grads[0])), gb = diff(dgb.get(), host(grads[1]));
  std::printf("  %s %s x %s -> %s (ws %lld): fwd %.3g, ga %.3g (%lld not bitwise), gb %.3g (%lld not bitwise)\n",
              name, tessera::shape_str(sa).c_str(), tessera::shape_str(sb).c_str(), tessera::shape_str(so).c_str(),
              (long long)wsn, f.max_abs, ga.max_abs, (long long)ga.not_bitwise, gb.max_abs,
              (long long)gb.not_bitwise);
  g_fwd = std::fmax(g_fwd, f.max_abs);
  // forward: one float op per element, identical on both sides
  CHECK(f.not_bitwise == 0);
  if (op == cu::BinaryOp::Mul) {
    g_mul_bwd = std::fmax(g_mul_bwd, std::fmax(ga.max_rel, gb.max_rel));
    if (cpu_has_fma()) {
      CHECK(ga.not_bitwise == 0);
      CHECK(gb.not_bitwise == 0);
    } else {
      CHECK(ga.max_rel < 1e-5);
      CHECK(gb.max_rel < 1e-5);
    }
  } else {
    g_bwd = std::fmax(g_bwd, std::fmax(ga.max_abs, gb.max_abs));
    // add / sub: the same float lane sums and double accumulations in the same order
    CHECK(ga.not_bitwise == 0);
    CHECK(gb.not_bitwise == 0);
  }
}

void run_all_ops(const Shape& sa, const Shape& sb, uint64_t seed) {
  run(cu::BinaryOp::Add, sa, sb, seed);
  run(cu::BinaryOp::Sub, sa, sb, seed + 10);
  run(cu::BinaryOp::Mul, sa, sb, seed + 20);
}

}  // namespace

TEST_CASE(binary_same_shape) {
  run_all_ops({3, 5, 7}, {3, 5, 7}, 100);
  run_all_ops({13}, {13}, 110);
}

TEST_CASE(binary_broadcast_small) {
  run_all_ops({3, 1, 7}, {1, 5, 1}, 200);   // both broadcast, alternating dims
  run_all_ops({1, 5, 1}, {3, 1, 7}, 210);
  run_all_ops({7}, {1}, 220);               // rank 1
  run_all_ops({1}, {11}, 230);
  run_all_ops({}, {3, 4}, 240);             // 0-d operand
  run_all_ops({1}, {1, 1}, 250);            // one-element layout (nd = 0)
  run_all_ops({2, 3, 1, 4, 5}, {3, 4, 1}, 260);  // rank 5
  run_all_ops({2, 1, 3, 1, 5}, {1, 4, 1, 6, 1}, 270);
  run_all_ops({3, 6}, {5, 1, 1}, 280);      // mul: other broadcast along the last dim (kept)
}

TEST_CASE(binary_broadcast_reduced_blocks) {
  run_all_ops({7000, 5}, {5}, 300);         // last kept, 2 row blocks (per_block = 6553)
  run_all_ops({3, 1}, {3, 40000}, 310);     // last reduced, 157 segments -> 2 blocks of 128
  run_all_ops({70, 1}, {70, 300}, 320);     // last reduced, >= 64 tasks: one block
  run_all_ops({66, 1, 3}, {66, 50, 3}, 330); // last kept, >= 64 tasks
  run_all_ops({1, 1, 1}, {4, 9, 300}, 340); // full reduction of a broadcast scalar
}

TEST_CASE(binary_zero_size) {
  // an empty output: the gradient of the broadcast operand is zeros
  Shape sa{0, 3}, sb{1, 3};
  std::vector<float> bh = randv(3, 5);
  Dev da(size_t(0)), db(bh), dg(size_t(0)), dga(size_t(0)), dgb(bh);
  cu::binary_forward(cu::BinaryOp::Mul, da.p, sa.data(), 2, db.p, sb.data(), 2, nullptr, 0);
  cu::binary_backward(cu::BinaryOp::Mul, da.p, sa.data(), 2, db.p, sb.data(), 2, dg.p, dga.p, dgb.p, nullptr, 0);
  for (float v : dgb.get()) CHECK(v == 0.0f);
}

TEST_CASE(binary_invalid_arguments) {
  Shape sa{3, 4}, sb{5};
  bool threw = false;
  try {
    cu::broadcast_shape(sa.data(), 2, sb.data(), 1);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("dim -1 has sizes 4 and 5") != std::string::npos;
  }
  CHECK(threw);
  // a reduction that needs a workspace, given none
  Shape sc{2, 9000}, sd{2, 1};
  Dev c(randv(18000, 1)), d(randv(2, 2)), g(randv(18000, 3)), gd(2);
  threw = false;
  try {
    cu::binary_backward(cu::BinaryOp::Add, c.p, sc.data(), 2, d.p, sd.data(), 2, g.p, nullptr, gd.p, nullptr, 0);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("workspace") != std::string::npos;
  }
  CHECK(threw);
  threw = false;
  try {
    Shape big(17, 1);
    cu::broadcast_shape(big.data(), 17, sd.data(), 2);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
}

TEST_CASE(scale_fwd_bwd) {
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000), int64_t(70001)}) {
    const double alpha = -0.37;
    Tensor X = Tensor::from_f32(randv(n, 400 + n, 3.0f).data(), {n});
    Tensor G = Tensor::from_f32(randv(n, 500 + n).data(), {n});
    std::vector<Tensor> outs;
    std::vector<Tensor> gx = tessera::run_op_backward("scale", {X}, {{"alpha", alpha}}, {G}, &outs);
    Dev dx(host(X)), dg(host(G)), dy(static_cast<size_t>(n)), dgx(static_cast<size_t>(n));
    cu::scale_forward(dx.p, dy.p, n, float(alpha), 0);
    cu::scale_backward(dg.p, dgx.p, n, float(alpha), 0);
    const Diff f = diff(dy.get(), host(outs[0])), b = diff(dgx.get(), host(gx[0]));
    std::printf("  scale [%lld]: fwd %.3g bwd %.3g\n", (long long)n, f.max_abs, b.max_abs);
    CHECK(f.not_bitwise == 0);
    CHECK(b.not_bitwise == 0);
  }
}

TEST_CASE(binary_summary) {
  std::printf("  max errors: forward %.3g, add/sub backward %.3g, mul backward %.3g (rel; cpu isa %s)\n", g_fwd,
              g_bwd, g_mul_bwd, tessera::isa_name(tessera::cpu_isa()));
}

TEST_MAIN()
