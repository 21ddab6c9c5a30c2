// The causal 3D-conv video VAE (models/vae.h, docs/VAE.md), written against the op
// table (safetensors I/O and JSON: core/safetensors.h, core/json.h). Layout:
//   this file:      1. VaeConfig, 2. building the layers, 3. Vae (load, save, encode,
//                   decode, forward) and its posterior
//   vae_net.h:      the layers (conv, per-frame GroupNorm, ResBlock, attention,
//                   down/upsample, the mean shortcut) and the forward pass
//   vae_stream.cpp: streaming inference (chunks with causal caches, tiles with blending)
#include "models/vae.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/json.h"
#include "core/op.h"
#include "models/vae_net.h"

namespace tessera::models {

using namespace vae_net;

namespace {

int log2i(int64_t v) {
  int l = 0;
  while ((int64_t(1) << l) < v) ++l;
  return l;
}

std::string ints_str(const Ints& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

// ---- 1. VaeConfig ---------------------------------------------------------------------

void VaeConfig::validate() const {
  TS_CHECK_ARG(in_channels >= 1, "VaeConfig: in_channels must be >= 1, got ", in_channels);
  TS_CHECK_ARG(latent_channels >= 1, "VaeConfig: latent_channels must be >= 1, got ", latent_channels);
  TS_CHECK_ARG(base_channels >= 1, "VaeConfig: base_channels must be >= 1, got ", base_channels);
  TS_CHECK_ARG(spatial_down == 4 || spatial_down == 8 || spatial_down == 16,
               "VaeConfig: spatial_down must be 4, 8 or 16, got ", spatial_down);
  TS_CHECK_ARG(temporal_down == 1 || temporal_down == 2 || temporal_down == 4,
               "VaeConfig: temporal_down must be 1, 2 or 4, got ", temporal_down);
  const int L = log2i(spatial_down) + 1;
  TS_CHECK_ARG(int(channel_mult.size()) == L, "VaeConfig: channel_mult must have log2(spatial_down) + 1 = ", L,
               " entries (one per level) for spatial_down ", spatial_down, ", got ", channel_mult.size(), " (",
               ints_str(channel_mult), ")");
  for (size_t i = 0; i < channel_mult.size(); ++i)
    TS_CHECK_ARG(channel_mult[i] >= 1, "VaeConfig: channel_mult entries must be >= 1, got ", channel_mult[i],
                 " at level ", i, " (", ints_str(channel_mult), ")");
  TS_CHECK_ARG(num_res_blocks >= 1, "VaeConfig: num_res_blocks must be >= 1, got ", num_res_blocks);
  TS_CHECK_ARG(norm_groups >= 1, "VaeConfig: norm_groups must be >= 1, got ", norm_groups);
  for (size_t i = 0; i < channel_mult.size(); ++i) {
    const int64_t c = base_channels * channel_mult[i];
    TS_CHECK_ARG(c % norm_groups == 0, "VaeConfig: norm_groups ", norm_groups,
                 " must divide every channel count, but level ", i, " has base_channels ", base_channels,
                 " x channel_mult ", channel_mult[i], " = ", c, " channels");
  }
  TS_CHECK_ARG(std::isfinite(norm_eps) && norm_eps > 0, "VaeConfig: norm_eps must be a finite number > 0, got ",
               norm_eps);
  TS_CHECK_ARG(!mean_shortcut || latent_channels >= in_channels,
               "VaeConfig: mean_shortcut needs latent_channels >= in_channels (the block means of the ", in_channels,
               " input channels go to the first latent channels), got latent_channels ", latent_channels);
  TS_CHECK_ARG(!(mean_shortcut && linear_shortcut),
               "VaeConfig: mean_shortcut and linear_shortcut exclude each other (the linear shortcut starts as the "
               "mean shortcut and replaces it), got both true");
  // log2(td) <= 2 <= L - 1 downsamples: always room for the temporal ones.
}

int VaeConfig::levels() const { return int(channel_mult.size()); }

int64_t VaeConfig::channels(int level) const { return base_channels * channel_mult[size_t(level)]; }

int64_t VaeConfig::temporal_stride(int down) const { return down < log2i(temporal_down) ? 2 : 1; }

Shape VaeConfig::latent_shape(const Shape& v) const {
  TS_CHECK_SHAPE(v.size() == 5, "VaeConfig.latent_shape: video shape must be [N, C, T, H, W], got ", shape_str(v));
  return {v[0], latent_channels, 1 + (v[2] - 1) / temporal_down, v[3] / spatial_down, v[4] / spatial_down};
}

Shape VaeConfig::video_shape(const Shape& z) const {
  TS_CHECK_SHAPE(z.size() == 5, "VaeConfig.video_shape: latent shape must be [N, L, t, h, w], got ", shape_str(z));
  return {z[0], in_channels, 1 + temporal_down * (z[2] - 1), z[3] * spatial_down, z[4] * spatial_down};
}

std::string VaeConfig::to_json() const {
  std::string s = "{";
  s += "\"in_channels\":" + std::to_string(in_channels);
  s += ",\"latent_channels\":" + std::to_string(latent_channels);
  s += ",\"base_channels\":" + std::to_string(base_channels);
  s += ",\"channel_mult\":[";
  for (size_t i = 0; i < channel_mult.size(); ++i) s += (i ? "," : "") + std::to_string(channel_mult[i]);
  s += "],\"num_res_blocks\":" + std::to_string(num_res_blocks);
  s += ",\"spatial_down\":" + std::to_string(spatial_down);
  s += ",\"temporal_down\":" + std::to_string(temporal_down);
  s += ",\"norm_groups\":" + std::to_string(norm_groups);
  s += std::string(",\"mid_attention\":") + (mid_attention ? "true" : "false");
  s += ",\"norm_eps\":" + json_number(norm_eps);
  s += std::string(",\"mean_shortcut\":") + (mean_shortcut ? "true" : "false");
  s += std::string(",\"linear_shortcut\":") + (linear_shortcut ? "true" : "false");
  return s + "}";
}

VaeConfig VaeConfig::from_json(const std::string& text) {
  Json j = parse_json(text, "VaeConfig JSON");
  TS_CHECK(j.kind == Json::Object, ErrorCode::Format, "VaeConfig JSON must be an object, got: ", text);
  VaeConfig c;
  auto integer = [](const std::string& key, const Json& v) {
    int64_t out = 0;
    TS_CHECK(json_int(v, &out), ErrorCode::Format, "VaeConfig JSON: ", key, " must be an integer");
    return out;
  };
  for (auto& kv : j.obj) {
    const std::string& k = kv.first;
    const Json& v = kv.second;
    if (k == "in_channels") c.in_channels = integer(k, v);
    else if (k == "latent_channels") c.latent_channels = integer(k, v);
    else if (k == "base_channels") c.base_channels = integer(k, v);
    else if (k == "num_res_blocks") c.num_res_blocks = integer(k, v);
    else if (k == "spatial_down") c.spatial_down = integer(k, v);
    else if (k == "temporal_down") c.temporal_down = integer(k, v);
    else if (k == "norm_groups") c.norm_groups = integer(k, v);
    else if (k == "channel_mult") {
      TS_CHECK(v.kind == Json::Array, ErrorCode::Format, "VaeConfig JSON: channel_mult must be an array");
      c.channel_mult.clear();
      for (const Json& e : v.arr) c.channel_mult.push_back(integer(k, e));
    } else if (k == "mid_attention") {
      TS_CHECK(v.kind == Json::Bool, ErrorCode::Format, "VaeConfig JSON: mid_attention must be true or false");
      c.mid_attention = v.b;
    } else if (k == "mean_shortcut") {
      TS_CHECK(v.kind == Json::Bool, ErrorCode::Format, "VaeConfig JSON: mean_shortcut must be true or false");
      c.mean_shortcut = v.b;
    } else if (k == "linear_shortcut") {
      TS_CHECK(v.kind == Json::Bool, ErrorCode::Format, "VaeConfig JSON: linear_shortcut must be true or false");
      c.linear_shortcut = v.b;
    } else if (k == "norm_eps") {
      TS_CHECK(v.kind == Json::Number, ErrorCode::Format, "VaeConfig JSON: norm_eps must be a number");
      c.norm_eps = v.num;
    } else {
      fail(ErrorCode::Format, "VaeConfig JSON: unknown key '", k, "'");
    }
  }
  c.validate();
  return c;
}

// ---- 2. building the layers (the layers and the forward pass: models/vae_net.h) -------

namespace {


// Creates parameters in registration (state_dict) order and initializes them.
class Builder {
 public:
  Builder(std::vector<std::pair<std::string, Var>>* params, uint64_t seed, bool init)
      : params_(params), seed_(seed), init_(init) {}

  Conv conv(const std::string& name, int64_t cin, int64_t cout, int64_t k, Ints stride = {1, 1, 1}) {
    Conv c;
    c.k = k;
    c.stride = std::move(stride);
    const double bound = 1.0 / std::sqrt(double(cin * k * k * k));
    c.w = uniform(name + ".weight", {cout, cin, k, k, k}, bound);
    c.b = uniform(name + ".bias", {cout}, bound);
    return c;
  }
  Norm norm(const std::string& name, int64_t c) {
    Norm n;
    n.w = add(name + ".weight", Tensor::full({c}, 1.0f));
    n.b = add(name + ".bias", Tensor::zeros({c}));
    return n;
  }
  ResBlock res(const std::string& name, int64_t cin, int64_t cout) {
    ResBlock r;
    r.norm1 = norm(name + ".norm1", cin);
    r.conv1 = conv(name + ".conv1", cin, cout, 3);
    r.norm2 = norm(name + ".norm2", cout);
    r.conv2 = conv(name + ".conv2", cout, cout, 3);
    r.has_shortcut = cin != cout;
    if (r.has_shortcut) r.nin_shortcut = conv(name + ".nin_shortcut", cin, cout, 1);
    return r;
  }
  Attn attn(const std::string& name, int64_t c) {
    Attn a;
    a.norm = norm(name + ".norm", c);
    a.q = conv(name + ".q", c, c, 1);
    a.k = conv(name + ".k", c, c, 1);
    a.v = conv(name + ".v", c, c, 1);
    a.proj_out = conv(name + ".proj_out", c, c, 1);
    return a;
  }
  // The linear shortcut of one cell shape (vae_net::CellLinear), as the mean shortcut:
  // latent channel l < min(L, C) is the mean of input channel l over the cell (encoder)
  // and is added to every value of channel l in the cell (decoder); all else zero.
  CellLinear cell_linear(const std::string& name, const VaeConfig& c, int64_t t, bool encoder) {
    const int64_t L = c.latent_channels, C = c.in_channels, s = c.spatial_down, per = t * s * s;
    Tensor w = Tensor::zeros({L, C, t, s, s});
    float* p = w.f32();
    for (int64_t l = 0; l < std::min(L, C); ++l)
      for (int64_t i = 0; i < per; ++i) p[(l * C + l) * per + i] = encoder ? float(1.0 / double(per)) : 1.0f;
    CellLinear cl;
    cl.w = add(name + ".weight", std::move(w));
    cl.b = add(name + ".bias", encoder ? Tensor::zeros({L}) : Tensor::zeros({C, t, s, s}));
    return cl;
  }
  Mid mid(const std::string& name, int64_t c, bool attention) {
    Mid m;
    m.block_1 = res(name + ".block_1", c, c);
    m.has_attn = attention;
    if (attention) m.attn_1 = attn(name + ".attn_1", c);
    m.block_2 = res(name + ".block_2", c, c);
    return m;
  }

 private:
  Var uniform(const std::string& name, const Shape& shape, double bound) {
    Tensor t;
    if (init_) {
      t = Tensor::rand(shape, seed_, offset_);
      float* p = t.f32();
      for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = float((2.0 * p[i] - 1.0) * bound);
    } else {
      t = Tensor::zeros(shape);
    }
    offset_ += uint64_t(shape_numel(shape));
    return add(name, std::move(t));
  }
  Var add(const std::string& name, Tensor t) {
    Var v(std::move(t), true);
    params_->emplace_back(name, v);
    return v;
  }

  std::vector<std::pair<std::string, Var>>* params_;
  uint64_t seed_;
  bool init_;
  uint64_t offset_ = 0;
};

}  // namespace

// ---- 3. Vae -------------------------------------------------------------------------------

Vae::Vae(const VaeConfig& config, uint64_t seed) : Vae(config, seed, true) {}

Vae::Vae(const VaeConfig& config, uint64_t seed, bool init) : impl_(std::make_unique<Impl>()) {
  config.validate();
  Impl& m = *impl_;
  m.config = config;
  const VaeConfig& c = m.config;
  const int L = c.levels();
  Builder b(&m.params, seed, init);
  // Encoder (registration order = the PyTorch reference's state_dict order).
  m.enc_conv_in = b.conv("encoder.conv_in", c.in_channels, c.channels(0), 3);
  int64_t cin = c.channels(0);
  for (int i = 0; i < L; ++i) {
    Level l;
    const std::string name = "encoder.down." + std::to_string(i);
    for (int j = 0; j < c.num_res_blocks; ++j) {
      l.block.push_back(b.res(name + ".block." + std::to_string(j), cin, c.channels(i)));
      cin = c.channels(i);
    }
    if (i != L - 1) {
      l.has_resample = true;
      l.temporal = c.temporal_stride(i);
      l.resample = b.conv(name + ".downsample.conv", cin, cin, 3, {l.temporal, 2, 2});
    }
    m.down.push_back(std::move(l));
  }
  m.enc_mid = b.mid("encoder.mid", cin, c.mid_attention);
  m.enc_norm_out = b.norm("encoder.norm_out", cin);
  m.enc_conv_out = b.conv("encoder.conv_out", cin, 2 * c.latent_channels, 3);
  if (c.linear_shortcut) {
    m.linear.enc_first = b.cell_linear("encoder.shortcut.first", c, 1, true);
    m.linear.enc_rest = b.cell_linear("encoder.shortcut.rest", c, c.temporal_down, true);
  }
  // The logvar half of the moments starts at kLogvarInit (std 0.05) instead of ~0: with
  // the default init the mean is ~0.2 in size, so unit posterior noise would drown it and
  // the encoder would spend its first thousands of steps growing past the noise.
  if (init) {
    float* bias = m.enc_conv_out.b.value().f32();
    for (int64_t i = c.latent_channels; i < 2 * c.latent_channels; ++i) bias[i] = float(kLogvarInit);
  }
  // Decoder.
  const int64_t top = c.channels(L - 1);
  m.dec_conv_in = b.conv("decoder.conv_in", c.latent_channels, top, 3);
  m.dec_mid = b.mid("decoder.mid", top, c.mid_attention);
  for (int i = 0; i < L; ++i) {
    Level l;
    const std::string name = "decoder.up." + std::to_string(i);
    cin = c.channels(std::min(i + 1, L - 1));
    for (int j = 0; j < c.num_res_blocks + 1; ++j) {
      l.block.push_back(b.res(name + ".block." + std::to_string(j), cin, c.channels(i)));
      cin = c.channels(i);
    }
    if (i != 0) {
      l.has_resample = true;
      l.temporal = c.temporal_stride(i - 1);  // mirrors the encoder's downsample between levels i-1 and i
      l.resample = b.conv(name + ".upsample.conv", cin, cin, 3);
    }
    m.up.push_back(std::move(l));
  }
  m.dec_norm_out = b.norm("decoder.norm_out", c.channels(0));
  m.dec_conv_out = b.conv("decoder.conv_out", c.channels(0), c.in_channels, 3);
  if (c.linear_shortcut) {
    m.linear.dec_first = b.cell_linear("decoder.shortcut.first", c, 1, false);
    m.linear.dec_rest = b.cell_linear("decoder.shortcut.rest", c, c.temporal_down, false);
  }
}

Vae::~Vae() = default;
Vae::Vae(Vae&&) noexcept = default;
Vae& Vae::operator=(Vae&&) noexcept = default;

const VaeConfig& Vae::config() const { return impl_->config; }

const std::vector<std::pair<std::string, Var>>& Vae::named_parameters() const { return impl_->params; }

std::vector<Var> Vae::parameters() const {
  std::vector<Var> out;
  for (auto& kv : impl_->params) out.push_back(kv.second);
  return out;
}

int64_t Vae::num_parameters() const {
  int64_t n = 0;
  for (auto& kv : impl_->params) n += kv.second.value().numel();
  return n;
}

void Vae::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& tensors, bool strict,
                          const std::string& what) {
  std::map<std::string, const Tensor*> byname;
  for (auto& kv : tensors) byname[kv.first] = &kv.second;
  // Check everything before changing anything.
  for (auto& kv : impl_->params) {
    auto it = byname.find(kv.first);
    TS_CHECK(it != byname.end(), ErrorCode::Format, what, ": parameter '", kv.first, "' ",
             shape_str(kv.second.shape()), " is missing");
    const Tensor& t = *it->second;
    TS_CHECK_SHAPE(t.shape() == kv.second.shape(), what, ": parameter '", kv.first, "' must be ",
                   shape_str(kv.second.shape()), ", got ", t.describe());
  }
  if (strict) {
    for (auto& kv : tensors) {
      bool known = false;
      for (auto& p : impl_->params) known = known || p.first == kv.first;
      TS_CHECK(known, ErrorCode::Format, what, ": unexpected tensor '", kv.first, "' ", kv.second.describe(),
               " (not a parameter of this VAE configuration)");
    }
  }
  for (auto& kv : impl_->params) {
    const Tensor& t = *byname[kv.first];
    Tensor v = t.dtype() == DType::F32 ? t.contiguous().clone() : t.to(DType::F32).contiguous();
    kv.second.set_value(v);
    kv.second.zero_grad();
  }
}

Vae Vae::load(const std::string& path) {
  SafetensorsFile f = read_safetensors(path);
  auto fmt = f.metadata.find("format");
  const bool checkpoint = fmt != f.metadata.end() && fmt->second == "tessera.vae.checkpoint";
  TS_CHECK(checkpoint || (fmt != f.metadata.end() && fmt->second == "tessera.vae"), ErrorCode::Format, path,
           ": not a tessera VAE model file or checkpoint (metadata format must be \"tessera.vae\" or "
           "\"tessera.vae.checkpoint\", got ",
           fmt == f.metadata.end() ? std::string("none") : "\"" + fmt->second + "\"", ")");
  auto cfg = f.metadata.find("config");
  TS_CHECK(cfg != f.metadata.end(), ErrorCode::Format, path, ": metadata has no config");
  Vae vae(VaeConfig::from_json(cfg->second), 0, false);
  if (checkpoint) {  // the weights only: the optimizer's moments stay behind
    std::vector<std::pair<std::string, Tensor>> weights;
    for (auto& kv : f.tensors)
      if (kv.first.rfind("optimizer.", 0) != 0) weights.push_back(kv);
    vae.load_state_dict(weights, true, path);
  } else {
    vae.load_state_dict(f.tensors, true, path);
  }
  return vae;
}

void Vae::save(const std::string& path, const std::map<std::string, std::string>& extra_metadata, DType dtype) const {
  std::map<std::string, std::string> meta = extra_metadata;
  meta["format"] = "tessera.vae";
  meta["config"] = impl_->config.to_json();
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& kv : impl_->params)
    tensors.emplace_back(kv.first, dtype == DType::F32 ? kv.second.value() : kv.second.value().to(dtype));
  write_safetensors(path, tensors, meta);
}

void Vae::check_video(const Shape& s, const char* where) const {
  const VaeConfig& c = impl_->config;
  TS_CHECK_SHAPE(s.size() == 5, where, ": x must be 5-d [N, C, T, H, W], got ", shape_str(s));
  TS_CHECK_SHAPE(s[0] >= 1, where, ": batch N must be >= 1, got ", s[0], " (x ", shape_str(s), ")");
  TS_CHECK_SHAPE(s[1] == c.in_channels, where, ": x has ", s[1], " channels, the model takes in_channels = ",
                 c.in_channels, " (x ", shape_str(s), ")");
  TS_CHECK_SHAPE(s[2] >= 1 && (s[2] - 1) % c.temporal_down == 0, where, ": T = ", s[2],
                 " frames breaks the rule T = 1 + temporal_down * k with temporal_down = ", c.temporal_down,
                 " (T = 1, ", 1 + c.temporal_down, ", ", 1 + 2 * c.temporal_down, ", ...) (x ", shape_str(s), ")");
  TS_CHECK_SHAPE(s[3] >= 1 && s[3] % c.spatial_down == 0, where, ": H = ", s[3],
                 " must be a positive multiple of spatial_down = ", c.spatial_down, " (x ", shape_str(s), ")");
  TS_CHECK_SHAPE(s[4] >= 1 && s[4] % c.spatial_down == 0, where, ": W = ", s[4],
                 " must be a positive multiple of spatial_down = ", c.spatial_down, " (x ", shape_str(s), ")");
}

void Vae::check_latent(const Shape& s, const char* where) const {
  const VaeConfig& c = impl_->config;
  TS_CHECK_SHAPE(s.size() == 5, where, ": z must be 5-d [N, L, t, h, w], got ", shape_str(s));
  TS_CHECK_SHAPE(s[1] == c.latent_channels, where, ": z has ", s[1], " channels, the model has latent_channels = ",
                 c.latent_channels, " (z ", shape_str(s), ")");
  TS_CHECK_SHAPE(s[0] >= 1 && s[2] >= 1 && s[3] >= 1 && s[4] >= 1, where,
                 ": every dimension of z must be >= 1, got ", shape_str(s));
}

VaePosterior Vae::encode(const Var& x) const {
  check_video(x.shape(), "Vae.encode");
  const Impl& m = *impl_;
  return m.posterior(m.encoder(m.net(), x));
}

Var Vae::decode(const Var& z) const {
  check_latent(z.shape(), "Vae.decode");
  const Impl& m = *impl_;
  return m.decoder(m.net(), z);
}

VaeOutput Vae::forward(const Var& x, const Var& eps) const {
  VaePosterior post = encode(x);
  TS_CHECK_SHAPE(eps.shape() == post.mean.shape(), "Vae.forward: eps must have the latent shape ",
                 shape_str(post.mean.shape()), ", got ", shape_str(eps.shape()));
  VaeOutput out;
  out.mean = post.mean;
  out.logvar = post.logvar;
  out.z = post.sample(eps);
  out.kl = post.kl();
  out.recon = decode(out.z);
  return out;
}

VaeOutput Vae::forward(const Var& x, uint64_t seed, uint64_t offset) const {
  check_video(x.shape(), "Vae.forward");
  const Shape lat = impl_->config.latent_shape(x.shape());
  const bool cuda = x.value().device() == Device::CUDA;
  Var eps = apply1("randn", {}, {{"shape", Ints(lat.begin(), lat.end())}, {"seed", double(seed)},
                                 {"offset", double(offset)}, {"device", std::string(cuda ? "cuda" : "cpu")}});
  return forward(x, eps);
}

// ---- posterior ----------------------------------------------------------------------------

Var VaePosterior::stddev() const {
  return apply1("exp", {scale(logvar, 0.5)});
}

Var VaePosterior::sample(const Var& eps) const {
  TS_CHECK_SHAPE(eps.shape() == mean.shape(), "VaePosterior.sample: eps must be ", shape_str(mean.shape()), ", got ",
                 shape_str(eps.shape()));
  return add(mean, mul(stddev(), eps));
}

Var VaePosterior::sample(uint64_t seed, uint64_t offset) const {
  const Shape& s = mean.shape();
  const bool cuda = mean.value().device() == Device::CUDA;
  Var eps = apply1("randn", {}, {{"shape", Ints(s.begin(), s.end())}, {"seed", double(seed)},
                                 {"offset", double(offset)}, {"device", std::string(cuda ? "cuda" : "cpu")}});
  return sample(eps);
}

Var VaePosterior::kl() const {
  // Per element mean^2 + (exp(logvar) - 1 - logvar): each bracket is >= 0, so the
  // constant is subtracted before the sum rather than after it.
  Var minus_one(Tensor::full({1}, -1.0f));
  Var terms = add(add(mul(mean, mean), apply1("exp", {logvar})), apply1("sub", {minus_one, logvar}));
  return scale(apply1("sum", {terms}), 0.5 / double(mean.shape()[0]));
}


}  // namespace tessera::models
