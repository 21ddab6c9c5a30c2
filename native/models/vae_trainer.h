// Training the VAE (docs/VAE.md, "Training"): one optimizer step per batch of
// clips, and checkpoints that hold everything needed to resume.
//
//   loss = l1_weight * mean|recon - x| + mse_weight * mean (recon - x)^2 + kl_weight * KL / (C T H W)
//
// KL is the posterior's (summed over latent elements, averaged over the batch); it is
// divided by the values per clip so that, like the per-element reconstruction means, the
// term does not change with clip size, and kl_weight means what it means for a
// reconstruction loss summed over pixels (LDM's 1e-6).
// with recon decoded from z = mean + sigma * eps (eps: Philox randn keyed by the
// training seed and the step, so a resumed run draws the same noise as an
// uninterrupted one), AdamW with global-norm gradient clipping.
//
// A checkpoint is one safetensors file: the parameters under their names, the
// AdamW moments as "optimizer.m.<name>" / "optimizer.v.<name>", and metadata
// format = "tessera.vae.checkpoint", config (VaeConfig JSON), "train.<field>" for
// each VaeTrainConfig field and step. It is written to a temporary file and renamed, so a crash never
// leaves a half-written checkpoint. VaeTrainer::resume reads it; Vae::load reads its weights.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "core/optimizer.h"
#include "models/vae.h"

namespace tessera::models {

struct VaeTrainConfig {
  double lr = 2e-4;
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-8;
  double weight_decay = 0.0;
  double l1_weight = 1.0, mse_weight = 1.0;
  double kl_weight = 1e-6;
  double max_grad_norm = 1.0;  // 0: no clipping
  uint64_t seed = 0;           // posterior noise stream
  void validate() const;       // throws naming the field, the value and the rule
  // As checkpoint metadata: one "train.<field>" entry per field (decimal text).
  void to_metadata(std::map<std::string, std::string>& meta) const;
  static VaeTrainConfig from_metadata(const std::map<std::string, std::string>& meta, const std::string& what);
};

struct VaeStepStats {
  int64_t step = 0;  // steps done after this one
  double loss = 0, l1 = 0, mse = 0, kl = 0;
  double grad_norm = 0;  // before clipping
  double psnr = 0;       // of this batch's reconstruction, 10 log10(4 / mse) for [-1, 1] data
};

class VaeTrainer {
 public:
  VaeTrainer(const VaeConfig& config, const VaeTrainConfig& train, uint64_t init_seed = 0);
  // Everything from a checkpoint (model, moments, step, training config).
  static VaeTrainer resume(const std::string& checkpoint_path);

  // One step on x [N, 3, T, H, W] in [-1, 1] (checked against the model's input rules).
  VaeStepStats step(const Tensor& x);

  void save_checkpoint(const std::string& path) const;
  void save_model(const std::string& path, DType dtype = DType::F32) const;  // parameters only (Vae::load)

  Vae& model() { return vae_; }
  const Vae& model() const { return vae_; }
  const VaeTrainConfig& train_config() const { return train_; }
  int64_t steps() const { return opt_.steps(); }
  void set_lr(double lr);

 private:
  VaeTrainer(Vae vae, const VaeTrainConfig& train);
  Vae vae_;
  VaeTrainConfig train_;
  AdamW opt_;
};

// PSNR in dB between two videos in [-1, 1] (peak-to-peak 2): 10 log10(4 / MSE).
double psnr_db(const Tensor& a, const Tensor& b);

}  // namespace tessera::models
