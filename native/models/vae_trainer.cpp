#include "models/vae_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "backend/cuda_backend.h"
#include "core/error.h"

namespace tessera::models {

namespace {

constexpr const char* kCheckpointFormat = "tessera.vae.checkpoint";

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

double parse_num(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& what) {
  auto it = meta.find(key);
  TS_CHECK(it != meta.end(), ErrorCode::Format, what, ": checkpoint metadata has no '", key, "'");
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  TS_CHECK(end && *end == '\0' && !it->second.empty(), ErrorCode::Format, what, ": checkpoint metadata '", key,
           "' must be a number, got \"", it->second, "\"");
  return v;
}

AdamWConfig adamw_config(const VaeTrainConfig& t) {
  AdamWConfig c;
  c.lr = t.lr;
  c.beta1 = t.beta1;
  c.beta2 = t.beta2;
  c.eps = t.eps;
  c.weight_decay = t.weight_decay;
  return c;
}

// The value of a one-element tensor (a loss), read back from the GPU if it lives there.
double scalar(const Var& v) {
  Tensor t = v.value();
  if (t.device() != Device::CPU) t = cuda_backend::to_device(t, Device::CPU);
  return double(t.f32()[0]);
}

}  // namespace

void VaeTrainConfig::validate() const {
  auto finite_pos = [](const char* name, double v, bool allow_zero) {
    TS_CHECK_ARG(std::isfinite(v) && (allow_zero ? v >= 0 : v > 0), "train config: ", name, " must be a finite number ",
                 allow_zero ? ">= 0" : "> 0", ", got ", v);
  };
  finite_pos("lr", lr, false);
  TS_CHECK_ARG(beta1 >= 0 && beta1 < 1, "train config: beta1 must be in [0, 1), got ", beta1);
  TS_CHECK_ARG(beta2 >= 0 && beta2 < 1, "train config: beta2 must be in [0, 1), got ", beta2);
  finite_pos("eps", eps, true);
  finite_pos("weight_decay", weight_decay, true);
  finite_pos("l1_weight", l1_weight, true);
  finite_pos("mse_weight", mse_weight, true);
  finite_pos("kl_weight", kl_weight, true);
  finite_pos("max_grad_norm", max_grad_norm, true);
  TS_CHECK_ARG(l1_weight + mse_weight > 0, "train config: l1_weight + mse_weight must be > 0 (some reconstruction ",
               "loss), got ", l1_weight, " + ", mse_weight);
}

void VaeTrainConfig::to_metadata(std::map<std::string, std::string>& meta) const {
  meta["train.lr"] = num(lr);
  meta["train.beta1"] = num(beta1);
  meta["train.beta2"] = num(beta2);
  meta["train.eps"] = num(eps);
  meta["train.weight_decay"] = num(weight_decay);
  meta["train.l1_weight"] = num(l1_weight);
  meta["train.mse_weight"] = num(mse_weight);
  meta["train.kl_weight"] = num(kl_weight);
  meta["train.max_grad_norm"] = num(max_grad_norm);
  meta["train.seed"] = std::to_string(seed);
}

VaeTrainConfig VaeTrainConfig::from_metadata(const std::map<std::string, std::string>& meta, const std::string& what) {
  VaeTrainConfig t;
  t.lr = parse_num(meta, "train.lr", what);
  t.beta1 = parse_num(meta, "train.beta1", what);
  t.beta2 = parse_num(meta, "train.beta2", what);
  t.eps = parse_num(meta, "train.eps", what);
  t.weight_decay = parse_num(meta, "train.weight_decay", what);
  t.l1_weight = parse_num(meta, "train.l1_weight", what);
  t.mse_weight = parse_num(meta, "train.mse_weight", what);
  t.kl_weight = parse_num(meta, "train.kl_weight", what);
  t.max_grad_norm = parse_num(meta, "train.max_grad_norm", what);
  t.seed = uint64_t(parse_num(meta, "train.seed", what));
  t.validate();
  return t;
}

VaeTrainer::VaeTrainer(const VaeConfig& config, const VaeTrainConfig& train, uint64_t init_seed)
    : VaeTrainer(Vae(config, init_seed), train) {}

VaeTrainer::VaeTrainer(Vae vae, const VaeTrainConfig& train)
    : vae_(std::move(vae)), train_(train), opt_(vae_.parameters(), adamw_config(train)) {
  train_.validate();
}

void VaeTrainer::set_lr(double lr) {
  TS_CHECK_ARG(std::isfinite(lr) && lr > 0, "lr must be a finite number > 0, got ", lr);
  train_.lr = lr;
  opt_.set_lr(lr);
}

VaeStepStats VaeTrainer::step(const Tensor& x_in) {
  vae_.check_video(x_in.shape(), "VaeTrainer.step");
  Var x(x_in, false);
  // eps for this step: the Philox stream of the training seed, one window per step
  // (offset = step * 2^32), so a resumed run continues the same noise.
  const uint64_t offset = uint64_t(opt_.steps()) << 32;
  VaeOutput out = vae_.forward(x, train_.seed, offset);
  Var l1 = apply1("l1_loss", {out.recon, x});
  Var mse = apply1("mse_loss", {out.recon, x});
  Var loss = apply1("scale", {l1}, {{"alpha", train_.l1_weight}});
  loss = apply1("add", {loss, apply1("scale", {mse}, {{"alpha", train_.mse_weight}})});
  const double values_per_clip = double(x_in.numel() / x_in.shape()[0]);
  loss = apply1("add", {loss, apply1("scale", {out.kl}, {{"alpha", train_.kl_weight / values_per_clip}})});
  VaeStepStats st;
  st.loss = scalar(loss);
  st.l1 = scalar(l1);
  st.mse = scalar(mse);
  st.kl = scalar(out.kl);
  TS_CHECK(std::isfinite(st.loss), ErrorCode::Internal, "VaeTrainer.step: the loss is ", st.loss,
           " at step ", opt_.steps() + 1, " (l1 ", st.l1, ", mse ", st.mse, ", kl ", st.kl,
           "); lower the learning rate");
  backward(loss);
  st.grad_norm = train_.max_grad_norm > 0 ? opt_.clip_grad_norm(train_.max_grad_norm) : 0.0;
  opt_.step();
  st.step = opt_.steps();
  st.psnr = st.mse > 0 ? 10.0 * std::log10(4.0 / st.mse) : std::numeric_limits<double>::infinity();
  return st;
}

void VaeTrainer::save_checkpoint(const std::string& path) const {
  std::map<std::string, std::string> meta;
  meta["format"] = kCheckpointFormat;
  meta["config"] = vae_.config().to_json();
  meta["step"] = std::to_string(opt_.steps());
  train_.to_metadata(meta);
  std::vector<std::pair<std::string, Tensor>> tensors;
  const auto& named = vae_.named_parameters();
  auto& opt = const_cast<AdamW&>(opt_);
  for (size_t i = 0; i < named.size(); ++i) tensors.emplace_back(named[i].first, named[i].second.value());
  for (size_t i = 0; i < named.size(); ++i) tensors.emplace_back("optimizer.m." + named[i].first, opt.first_moments()[i]);
  for (size_t i = 0; i < named.size(); ++i) tensors.emplace_back("optimizer.v." + named[i].first, opt.second_moments()[i]);
  write_safetensors(path, tensors, meta);
}

void VaeTrainer::save_model(const std::string& path, DType dtype) const {
  vae_.save(path, {{"step", std::to_string(opt_.steps())}}, dtype);
}

VaeTrainer VaeTrainer::resume(const std::string& path) {
  SafetensorsFile f = read_safetensors(path);
  auto fmt = f.metadata.find("format");
  TS_CHECK(fmt != f.metadata.end() && fmt->second == kCheckpointFormat, ErrorCode::Format, path,
           ": not a tessera VAE checkpoint (metadata format must be \"", kCheckpointFormat, "\", got ",
           fmt == f.metadata.end() ? std::string("none") : "\"" + fmt->second + "\"",
           "); a model file (Vae.save) has no optimizer state to resume from");
  auto cfg = f.metadata.find("config");
  TS_CHECK(cfg != f.metadata.end(), ErrorCode::Format, path, ": metadata has no config");
  const VaeTrainConfig train = VaeTrainConfig::from_metadata(f.metadata, path);
  const double step = parse_num(f.metadata, "step", path);
  TS_CHECK(step >= 0 && step == std::floor(step), ErrorCode::Format, path, ": step must be a whole number, got ", step);
  std::vector<std::pair<std::string, Tensor>> weights;
  for (auto& kv : f.tensors)
    if (kv.first.rfind("optimizer.", 0) != 0) weights.push_back(kv);
  Vae vae(VaeConfig::from_json(cfg->second), 0);
  vae.load_state_dict(weights, true, path);
  VaeTrainer t(std::move(vae), train);
  const auto& named = t.vae_.named_parameters();
  for (size_t i = 0; i < named.size(); ++i) {
    const Tensor& m = f.at("optimizer.m." + named[i].first);
    const Tensor& v = f.at("optimizer.v." + named[i].first);
    const Shape& want = named[i].second.value().shape();
    TS_CHECK(m.shape() == want && v.shape() == want, ErrorCode::Format, path, ": optimizer state of '",
             named[i].first, "' must be ", shape_str(want), ", got ", shape_str(m.shape()), " and ",
             shape_str(v.shape()));
    t.opt_.first_moments()[i] = m.to(DType::F32).contiguous().clone();
    t.opt_.second_moments()[i] = v.to(DType::F32).contiguous().clone();
  }
  t.opt_.set_steps(int64_t(step));
  return t;
}

double psnr_db(const Tensor& a, const Tensor& b) {
  TS_CHECK_SHAPE(a.shape() == b.shape(), "psnr: shapes differ: ", shape_str(a.shape()), " and ", shape_str(b.shape()));
  Tensor ac = a.to(DType::F32).contiguous(), bc = b.to(DType::F32).contiguous();
  const float* pa = ac.f32();
  const float* pb = bc.f32();
  double se = 0;
  for (int64_t i = 0, n = ac.numel(); i < n; ++i) {
    const double d = double(pa[i]) - pb[i];
    se += d * d;
  }
  const double mse = se / double(std::max<int64_t>(1, ac.numel()));
  return mse > 0 ? 10.0 * std::log10(4.0 / mse) : std::numeric_limits<double>::infinity();
}

}  // namespace tessera::models
