// Op family 'random' (docs/OPS.md): randn. No inputs; params shape, seed,
// offset (default 0). Element i of the result is standard normal sample
// (offset + i) of the Philox4x32-10 stream keyed by seed (core/philox.h), the
// same on every backend and thread count. Not differentiable.
#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"

namespace tessera {

namespace {

// params.device "cuda" draws on the GPU (same numbers: cuda/random.cu).
std::vector<Tensor> randn_forward(Device dev, const std::vector<Tensor>&, const OpParams& params, OpContext&) {
  Shape shape = params.get_ints("shape");
  for (int64_t d : shape)
    TS_CHECK_ARG(d >= 0, "randn: shape ", shape_str(shape), " has a negative dimension ", d);
  const int64_t seed = params.get_int("seed");
  const int64_t offset = params.get_int("offset", 0);
  TS_CHECK_ARG(seed >= 0, "randn: seed must be a non-negative integer, got ", seed);
  TS_CHECK_ARG(offset >= 0, "randn: offset must be a non-negative integer, got ", offset);
  if (dev == Device::CPU) return {Tensor::randn(shape, uint64_t(seed), uint64_t(offset))};
  Tensor out = empty_f32(shape, dev);
  if (out.numel()) TS_CUDA("randn", randn_fill, data_f32(out), out.numel(), uint64_t(seed), uint64_t(offset));
  return {out};
}

}  // namespace

void register_random_ops(OpRegistry& r) {
  OpDef d;
  d.name = "randn";
  d.min_inputs = d.max_inputs = 0;
  set_forward(d, randn_forward);
  d.doc = "randn(; shape, seed, offset = 0, device = \"cpu\") -> Philox standard normals, sample offset + i at element i";
  r.add(std::move(d));
}

}  // namespace tessera
