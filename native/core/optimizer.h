// AdamW over autograd variables (decoupled weight decay, fp32 moments), with
// global-norm gradient clipping. The update itself is the `adamw` op.
#pragma once
#include <vector>

#include "core/autograd.h"

namespace tessera {

struct AdamWConfig {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW {
 public:
  AdamW(std::vector<Var> params, AdamWConfig config);

  // Scales all gradients so their global L2 norm is at most max_norm; returns the norm before clipping.
  double clip_grad_norm(double max_norm);
  // One update of every parameter that has a gradient; then drops the gradients.
  void step();
  void zero_grad();

  int64_t steps() const { return step_; }
  const AdamWConfig& config() const { return config_; }
  void set_lr(double lr) { config_.lr = lr; }
  // Optimizer state for checkpoints: first and second moments, per parameter.
  std::vector<Tensor>& first_moments() { return m_; }
  std::vector<Tensor>& second_moments() { return v_; }
  void set_steps(int64_t s) { step_ = s; }

 private:
  std::vector<Var> params_;
  std::vector<Tensor> m_, v_;
  AdamWConfig config_;
  int64_t step_ = 0;
};

}  // namespace tessera
