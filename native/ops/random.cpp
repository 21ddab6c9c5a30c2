// Op family 'random' (docs/OPS.md): randn. No inputs; params shape, seed,
// offset (default 0). Element i of the result is standard normal sample
// (offset + i) of the Philox4x32-10 stream keyed by seed (core/philox.h), the
// same on every backend and thread count. Not differentiable.
#include "core/error.h"
#include "core/op.h"

namespace tessera {

namespace {

std::vector<Tensor> randn_forward(const std::vector<Tensor>&, const OpParams& params, OpContext&) {
  Shape shape = params.get_ints("shape");
  for (int64_t d : shape)
    TS_CHECK_ARG(d >= 0, "randn: shape ", shape_str(shape), " has a negative dimension ", d);
  const int64_t seed = params.get_int("seed");
  const int64_t offset = params.get_int("offset", 0);
  TS_CHECK_ARG(seed >= 0, "randn: seed must be a non-negative integer, got ", seed);
  TS_CHECK_ARG(offset >= 0, "randn: offset must be a non-negative integer, got ", offset);
  return {Tensor::randn(shape, uint64_t(seed), uint64_t(offset))};
}

}  // namespace

void register_random_ops(OpRegistry& r) {
  r.add(OpDef{"randn", 0, 0, randn_forward, nullptr,
              "randn(; shape, seed, offset = 0) -> Philox standard normals, sample offset + i at element i"});
}

}  // namespace tessera
