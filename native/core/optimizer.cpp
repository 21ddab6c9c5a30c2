#include "core/optimizer.h"

#include <cmath>

#include "core/error.h"
#include "cpu/optim.h"

namespace tessera {

AdamW::AdamW(std::vector<Var> params, AdamWConfig config) : params_(std::move(params)), config_(config) {
  TS_CHECK_ARG(config.lr >= 0, "AdamW: lr must be >= 0, got ", config.lr);
  TS_CHECK_ARG(config.beta1 >= 0 && config.beta1 < 1, "AdamW: beta1 must be in [0, 1), got ", config.beta1);
  TS_CHECK_ARG(config.beta2 >= 0 && config.beta2 < 1, "AdamW: beta2 must be in [0, 1), got ", config.beta2);
  TS_CHECK_ARG(config.eps > 0, "AdamW: eps must be > 0, got ", config.eps);
  TS_CHECK_ARG(config.weight_decay >= 0, "AdamW: weightDecay must be >= 0, got ", config.weight_decay);
  for (const Var& p : params_) {
    TS_CHECK_ARG(p.defined() && p.requires_grad(), "AdamW: every parameter must require a gradient");
    m_.push_back(Tensor::zeros(p.shape()));
    v_.push_back(Tensor::zeros(p.shape()));
  }
}

double AdamW::clip_grad_norm(double max_norm) {
  TS_CHECK_ARG(max_norm > 0, "clip_grad_norm: maxNorm must be > 0, got ", max_norm);
  std::vector<Tensor> grads;
  std::vector<size_t> owners;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].grad().defined()) {
      grads.push_back(params_[i].grad());
      owners.push_back(i);
    }
  if (grads.empty()) return 0.0;
  std::vector<Tensor> out = run_op("clip_grad_norm", grads, OpParams{{"maxNorm", max_norm}});
  for (size_t j = 0; j < owners.size(); ++j) {
    params_[owners[j]].impl()->grad = out[j];
  }
  return double(out.back().f32()[0]);
}

void AdamW::step() {
  ++step_;
  OpParams p{{"lr", config_.lr},         {"beta1", config_.beta1},
             {"beta2", config_.beta2},   {"eps", config_.eps},
             {"weightDecay", config_.weight_decay}, {"step", double(step_)}};
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& g = params_[i].grad();
    if (!g.defined()) continue;
    const Tensor& w = params_[i].value();
    if (w.device() == Device::CPU && w.dtype() == DType::F32 && w.is_contiguous()) {
      // In place: no new parameter or moment tensors per step.
      Tensor gc = g.contiguous();
      cpu::adamw_step(w.f32(), gc.f32(), m_[i].f32(), v_[i].f32(), w.numel(), config_, step_);
      continue;
    }
    std::vector<Tensor> out = run_op("adamw", {w, g, m_[i], v_[i]}, p);
    params_[i].set_value(out[0]);
    m_[i] = out[1];
    v_[i] = out[2];
  }
  zero_grad();
}

void AdamW::zero_grad() {
  for (Var& p : params_) p.zero_grad();
}

}  // namespace tessera
