// cuda/optim.h — AdamW step (in place) and the global gradient L2 norm on the
// device (semantics of native/cpu/optim.h).
#pragma once
#include <cstdint>
#include <vector>

#include "launch.h"

namespace tessera {
namespace cuda {

// One AdamW step, step >= 1 (torch.optim.AdamW; scalars formed in double on the
// host and rounded to float once, exactly as cpu::adamw_step):
//   p = p (1 - lr wd);  m = m + (1 - b1)(g - m);  v = b2 v + (1 - b2) g^2
//   p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, double lr, double beta1, double beta2,
                double eps, double weight_decay, int64_t step, cudaStream_t stream);

// Floats of workspace global_norm needs for `num_tensors` tensors.
int64_t global_norm_workspace_floats(int64_t num_tensors);
// out[0] = sqrt(sum over tensors of sum_i x[i]^2) (device float). Deterministic:
// a fixed grid per tensor writes per-block partial sums into `workspace`, then one
// block adds all partials in a fixed order (in double).
void global_norm(const std::vector<const float*>& data, const std::vector<int64_t>& sizes, float* workspace,
                 float* out, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
