// Op family 'rope3d' (docs/OPS.md): 3-d rotary position embedding for spacetime
// patches.
//   rope3d(x [B, H, N, Dh], positions [N, 3]; sections [st, sh, sw], theta = 10000)
//     -> y [B, H, N, Dh]
// Channels [0, st) rotate with t, [st, st+sh) with h, [st+sh, Dh) with w, in
// interleaved pairs (formulas in cpu/rope.h). Backward rotates the gradient by -a;
// positions get no gradient. Nothing is saved: backward needs only the inputs.
// Kernels: native/cpu/rope.cpp (CUDA kernel: cuda/rope.cu, not yet in the backend table).
#include <cmath>
#include <sstream>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/rope.h"

namespace tessera {

namespace {

constexpr const char* kOp = "rope3d";

struct RopePlan {
  int64_t B = 0, H = 0, N = 0, Dh = 0;
  int64_t sec[3] = {0, 0, 0};
  double theta = 10000.0;
};

std::string ints_str(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ']';
  return os.str();
}

RopePlan plan_rope(const Tensor& x, const Tensor& pos, const OpParams& params) {
  TS_CHECK_SHAPE(x.dim() == 4, kOp, ": x must be 4-d [B, H, N, Dh], got ", x.describe());
  RopePlan p;
  p.B = x.size(0);
  p.H = x.size(1);
  p.N = x.size(2);
  p.Dh = x.size(3);
  TS_CHECK_SHAPE(pos.dim() == 2 && pos.size(0) == p.N && pos.size(1) == 3, kOp,
                 ": positions must be [N, 3] = [", p.N, ", 3] (one (t, h, w) row per token of x ",
                 shape_str(x.shape()), "), got ", pos.describe());
  if (params.has("sections")) {
    const std::vector<int64_t> s = params.get_ints("sections");
    bool ok = s.size() == 3;
    for (size_t i = 0; ok && i < 3; ++i) ok = s[i] >= 0 && s[i] % 2 == 0;
    ok = ok && s[0] + s[1] + s[2] == p.Dh;
    TS_CHECK_ARG(ok, kOp, ": sections must be three even non-negative integers [st, sh, sw] summing to Dh = ", p.Dh,
                 ", got ", ints_str(s));
    for (int i = 0; i < 3; ++i) p.sec[i] = s[size_t(i)];
  } else {
    TS_CHECK_ARG(cpu::rope3d_default_sections(p.Dh, p.sec), kOp,
                 ": sections must be given explicitly for Dh = ", p.Dh,
                 ": the default (sh = sw = 2 floor(3 Dh / 16), st = Dh - sh - sw) needs an even Dh >= 6");
  }
  p.theta = params.get_float("theta", 10000.0);
  TS_CHECK_ARG(std::isfinite(p.theta) && p.theta > 0, kOp, ": theta must be a finite number > 0, got ", p.theta);
  return p;
}

std::vector<Tensor> rope_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
  Tensor x = contiguous_f32(in[0], dev, kOp, "x");
  Tensor pos = contiguous_f32(in[1], dev, kOp, "positions");
  const RopePlan p = plan_rope(x, pos, params);
  Tensor y = empty_f32(x.shape(), dev);
  if (x.numel() == 0) return {y};
  if (dev == Device::CUDA)
    TS_CUDA(kOp, rope3d_forward, data_f32(x), data_f32(pos), data_f32(y), p.B, p.H, p.N, p.Dh, p.sec[0], p.sec[1],
            p.sec[2], p.theta);
  else
    cpu::rope3d_forward(x.f32(), pos.f32(), y.f32(), p.B, p.H, p.N, p.Dh, p.sec[0], p.sec[1], p.sec[2], p.theta);
  return {y};
}

std::vector<Tensor> rope_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                  const std::vector<Tensor>&, const std::vector<Tensor>& gout,
                                  const OpParams& params) {
  Tensor x = contiguous_f32(in[0], dev, kOp, "x");
  Tensor pos = contiguous_f32(in[1], dev, kOp, "positions");
  const RopePlan p = plan_rope(x, pos, params);
  std::vector<Tensor> grads(in.size());  // grads[1] (positions) stays undefined: no gradient
  if (!gout[0].defined()) {
    grads[0] = zeros_f32(x.shape(), dev);
    return grads;
  }
  Tensor g = contiguous_f32(gout[0], dev, kOp, "grad_output");
  TS_CHECK_SHAPE(g.shape() == x.shape(), kOp, ": grad_output must have shape ", shape_str(x.shape()), ", got ",
                 g.describe());
  grads[0] = empty_f32(x.shape(), dev);
  if (x.numel() == 0) return grads;
  if (dev == Device::CUDA)
    TS_CUDA(kOp, rope3d_backward, data_f32(g), data_f32(pos), data_f32(grads[0]), p.B, p.H, p.N, p.Dh, p.sec[0],
            p.sec[1], p.sec[2], p.theta);
  else
    cpu::rope3d_backward(g.f32(), pos.f32(), grads[0].f32(), p.B, p.H, p.N, p.Dh, p.sec[0], p.sec[1], p.sec[2],
                         p.theta);
  return grads;
}

}  // namespace

void register_rope_ops(OpRegistry& r) {
  OpDef d;
  d.name = "rope3d";
  d.min_inputs = d.max_inputs = 2;
  set_forward(d, rope_forward);
  set_backward(d, rope_backward);
  d.doc = "rope3d(x [B, H, N, Dh], positions [N, 3]; sections [st, sh, sw] = [Dh - 2 sh, 2 floor(3 Dh / 16), sh], "
              "theta = 10000) -> x rotated in interleaved channel pairs by angle p * theta^(-2i/s) per axis, "
          "[B, H, N, Dh]";
  r.add(std::move(d));
}

}  // namespace tessera
