// The causal 3D-conv video VAE (models/vae.h, docs/VAE.md), written against the op
// table (safetensors I/O and JSON: core/safetensors.h, core/json.h). Layout of this file:
//   1. the posterior's logvar range (exp and clamp are op-table ops)
//   2. VaeConfig
//   3. the layers (conv, per-frame GroupNorm, ResBlock, attention, down/upsample)
//   4. Vae
//   5. streaming inference (chunks with causal caches, tiles with blending)
#include "models/vae.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "backend/cuda_backend.h"
#include "core/error.h"
#include "core/json.h"
#include "core/op.h"
#include "core/threadpool.h"

namespace tessera::models {

// ---- 1. posterior ops -------------------------------------------------------------
// The posterior uses the op table's exp and clamp (native/ops/activation.cpp, CPU and
// CUDA): logvar is clamped to [kLogvarMin, kLogvarMax], and clamp's gradient is
// PyTorch's (it passes at the bounds themselves).

namespace {

constexpr double kLogvarMin = -30.0, kLogvarMax = 20.0;
constexpr double kLogvarInit = -6.0;  // initial logvar bias (see the Vae constructor)

// ---- op helpers -------------------------------------------------------------------

using Ints = std::vector<int64_t>;

Var reshape(const Var& x, const Ints& shape) { return apply1("reshape", {x}, {{"shape", shape}}); }
Var permute(const Var& x, const Ints& dims) { return apply1("permute", {x}, {{"dims", dims}}); }
Var silu(const Var& x) { return apply1("silu", {x}); }
Var add(const Var& a, const Var& b) { return apply1("add", {a, b}); }
Var mul(const Var& a, const Var& b) { return apply1("mul", {a, b}); }
Var scale(const Var& x, double alpha) { return apply1("scale", {x}, {{"alpha", alpha}}); }
Var slice(const Var& x, int dim, int64_t start, int64_t end) {
  return apply1("slice", {x}, {{"dim", double(dim)}, {"start", double(start)}, {"end", double(end)}});
}

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

// ---- 2. VaeConfig ---------------------------------------------------------------------

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

// ---- 3. layers ------------------------------------------------------------------------

namespace {

struct Conv {  // weight [Cout, Cin, k, k, k], bias [Cout]
  Var w, b;
  int64_t k = 3;
  Ints stride{1, 1, 1};
};
struct Norm {  // GroupNorm affine, [C] each
  Var w, b;
};
struct ResBlock {
  Norm norm1, norm2;
  Conv conv1, conv2;
  bool has_shortcut = false;
  Conv nin_shortcut;
};
struct Attn {
  Norm norm;
  Conv q, k, v, proj_out;
};
struct Mid {
  ResBlock block_1, block_2;
  bool has_attn = false;
  Attn attn_1;
};
struct Level {
  std::vector<ResBlock> block;
  bool has_resample = false;  // downsample (encoder) or upsample (decoder) after the blocks
  int64_t temporal = 1;       // its temporal stride / factor
  Conv resample;
};

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

// Stream mode's state (models/vae.h, "streaming inference"): one slot per causal conv
// and per temporal upsample, taken in forward order, so slot i is the same layer in
// every chunk.
struct StreamSlot {
  Tensor tail;           // causal conv: the frames of its padded input the next window still needs
  bool started = false;  // a chunk has passed through this layer
};
struct StreamCache {
  std::vector<StreamSlot> slots;
  size_t next = 0;
  void begin_chunk() { next = 0; }
  StreamSlot& take() {
    if (next == slots.size()) slots.emplace_back();
    return slots[next++];
  }
};

// The forward pass, layer by layer.
struct Net {
  int64_t groups;
  double eps;
  StreamCache* cache = nullptr;  // stream mode when set: causal convs and upsamples carry state across chunks

  // Causal 3x3x3 conv (2 zero frames before frame 0, none after; spatial padding 1)
  // or plain 1x1x1 conv. In stream mode a causal conv runs on [cache, x] (the cache is
  // the causal zero padding in the first chunk) and keeps the frames its next output
  // window starts at; it returns an undefined Var when [cache, x] holds no whole window
  // (only a stride-2 conv fed a 1-frame chunk).
  Var conv(const Conv& c, const Var& x) const {
    OpParams p;
    p.set("stride", c.stride);
    if (c.k > 1) p.set("padding", Ints{0, c.k / 2, c.k / 2});
    if (c.k > 1 && cache) {
      StreamSlot& slot = cache->take();
      const Tensor& xv = x.value();
      const Shape& s = xv.shape();
      Tensor prefix = slot.started ? slot.tail : Tensor::zeros({s[0], s[1], c.k - 1, s[3], s[4]}, DType::F32, xv.device());
      slot.started = true;
      Var padded = apply1("concat", {Var(prefix), x}, {{"dim", 2.0}});
      const int64_t n = padded.shape()[2], st = c.stride[0];
      if (n < c.k) {
        slot.tail = padded.value();
        return Var();
      }
      const int64_t windows = (n - c.k) / st + 1;
      slot.tail = padded.value().slice(2, windows * st, n).contiguous();  // not a view: the chunk is freed
      return apply1("conv3d", {padded, c.w, c.b}, p);
    }
    if (c.k > 1) p.set("causal", true);
    return apply1("conv3d", {x, c.w, c.b}, p);
  }

  // GroupNorm with statistics per frame: [N, C, T, H, W] is viewed as N*T images
  // [C, H, W] (a permute when T > 1), normalized, and put back.
  Var norm(const Norm& n, const Var& x) const {
    const Shape s = x.shape();
    OpParams p{{"numGroups", double(groups)}, {"eps", eps}};
    if (s[2] == 1) return apply1("group_norm", {x, n.w, n.b}, p);  // one frame: already per frame
    Var y = reshape(permute(x, {0, 2, 1, 3, 4}), {s[0] * s[2], s[1], s[3], s[4]});
    y = apply1("group_norm", {y, n.w, n.b}, p);
    return permute(reshape(y, {s[0], s[2], s[1], s[3], s[4]}), {0, 2, 1, 3, 4});
  }

  Var res(const ResBlock& r, const Var& x) const {
    Var h = conv(r.conv1, silu(norm(r.norm1, x)));
    h = conv(r.conv2, silu(norm(r.norm2, h)));
    return add(r.has_shortcut ? conv(r.nin_shortcut, x) : x, h);
  }

  // Single-head attention of width C over each frame's H*W tokens. The 1x1x1
  // projections run as matmuls on the token layout [N*T, H*W, C] (weights viewed as [C, C]).
  Var attn(const Attn& a, const Var& x) const {
    const Shape s = x.shape();
    const int64_t N = s[0], C = s[1], T = s[2], H = s[3], W = s[4];
    Var tokens = reshape(permute(norm(a.norm, x), {0, 2, 3, 4, 1}), {N * T, H * W, C});
    auto linear = [&](const Conv& c, const Var& t) {
      return apply1("matmul", {t, reshape(c.w, {C, C}), c.b}, {{"transB", true}});
    };
    Var q = reshape(linear(a.q, tokens), {N * T, 1, H * W, C});
    Var k = reshape(linear(a.k, tokens), {N * T, 1, H * W, C});
    Var v = reshape(linear(a.v, tokens), {N * T, 1, H * W, C});
    Var o = reshape(apply1("attention", {q, k, v}), {N * T, H * W, C});
    o = permute(reshape(linear(a.proj_out, o), {N, T, H, W, C}), {0, 4, 1, 2, 3});
    return add(x, o);
  }

  Var mid(const Mid& m, const Var& x) const {
    Var h = res(m.block_1, x);
    if (m.has_attn) h = attn(m.attn_1, h);
    return res(m.block_2, h);
  }

  Var out(const Norm& n, const Conv& c, const Var& x) const { return conv(c, silu(norm(n, x))); }

  // The mean shortcut (VaeConfig::mean_shortcut), encoder half: the mean of x over each
  // latent cell's block, frame 0 alone and then groups of td frames, s x s pixels:
  //   m[n, c, 0, i, j] = mean over (y, x) in the block (i, j) of x[n, c, 0, y, x]
  //   m[n, c, k, i, j] = mean over frames 1 + td (k-1) .. td k and the block (i, j)   (k >= 1)
  // [N, C, T, H, W] -> [N, C, 1 + (T-1)/td, H/s, W/s], as reshape + mean (autograd gives the
  // backward). In stream mode the frames of an unfinished group wait in the slot for the
  // next chunk; an undefined Var when this chunk completes no group (then the encoder's
  // stride-2 convs complete no latent frame either: both finish latent frame k at frame td k).
  Var block_mean(const Var& x, int64_t td, int64_t s) const {
    Var frames = x;
    bool first = true;
    StreamSlot* slot = nullptr;
    if (cache) {
      slot = &cache->take();
      first = !slot->started;
      slot->started = true;
      if (slot->tail.defined()) frames = apply1("concat", {Var(slot->tail), x}, {{"dim", 2.0}});
    }
    const Shape sh = frames.shape();
    const int64_t n = sh[2], lead = first ? 1 : 0;
    const int64_t groups = (n - lead) / td, used = lead + groups * td;
    if (slot) slot->tail = used < n ? frames.value().slice(2, used, n).contiguous() : Tensor();
    auto pool = [&](const Var& v, int64_t g, int64_t t) {  // [N, C, g t, H, W] -> [N, C, g, H/s, W/s]
      Var blocks = reshape(v, {sh[0], sh[1], g, t, sh[3] / s, s, sh[4] / s, s});
      return apply1("mean", {blocks}, {{"dims", Ints{3, 5, 7}}});
    };
    std::vector<Var> parts;
    if (lead) parts.push_back(pool(slice(frames, 2, 0, 1), 1, 1));
    if (groups) parts.push_back(pool(lead || used < n ? slice(frames, 2, lead, used) : frames, groups, td));
    if (parts.empty()) return Var();
    return parts.size() == 1 ? parts[0] : apply1("concat", parts, {{"dim", 2.0}});
  }

  // The mean shortcut, decoder half: each latent value repeated over its block (nearest
  // x(td, s, s), as two upsamples when s > 4), then frame 0's extra td - 1 copies dropped
  // (in the first chunk only, as in upsample): [N, C, t, h, w] -> [N, C, 1 + td (t-1), h s, w s].
  Var block_repeat(const Var& z, int64_t td, int64_t s) const {
    bool first = true;
    if (cache) {
      StreamSlot& slot = cache->take();
      first = !slot.started;
      slot.started = true;
    }
    const std::string nearest = "nearest";
    const int64_t s1 = std::min<int64_t>(s, 4);
    Var h = apply1("upsample", {z}, {{"factor", Ints{td, s1, s1}}, {"mode", nearest}});
    if (s > s1) h = apply1("upsample", {h}, {{"factor", Ints{1, s / s1, s / s1}}, {"mode", nearest}});
    if (td > 1 && first) h = slice(h, 2, td - 1, h.shape()[2]);
    return h;
  }

  // Nearest x(ut, 2, 2); with ut = 2 the first frame is dropped (t -> 1 + 2 (t-1)) so
  // frame 0 stays alone; then the causal conv.
  // In stream mode the first frame is dropped in the first chunk only.
  Var upsample(const Level& l, const Var& x) const {
    Var h = apply1("upsample", {x}, {{"factor", Ints{l.temporal, 2, 2}}, {"mode", std::string("nearest")}});
    bool first = true;
    if (cache) {
      StreamSlot& slot = cache->take();
      first = !slot.started;
      slot.started = true;
    }
    if (l.temporal > 1 && first) {
      const int64_t T = h.shape()[2];
      h = slice(h, 2, l.temporal - 1, T);
    }
    return conv(l.resample, h);
  }
};

}  // namespace

// ---- 4. Vae -----------------------------------------------------------------------------

struct Vae::Impl {
  VaeConfig config;
  std::vector<std::pair<std::string, Var>> params;
  // encoder
  Conv enc_conv_in, enc_conv_out;
  std::vector<Level> down;
  Mid enc_mid;
  Norm enc_norm_out;
  // decoder
  Conv dec_conv_in, dec_conv_out;
  Mid dec_mid;
  std::vector<Level> up;  // indexed by level, run from the top level down
  Norm dec_norm_out;

  Net net(StreamCache* cache = nullptr) const { return Net{config.norm_groups, config.norm_eps, cache}; }

  // The encoder up to the moments [N, 2L, t, h, w] (mean | raw logvar); in stream mode an
  // undefined Var when this chunk completes no latent frame.
  Var encoder(const Net& net, const Var& x) const {
    const Var shortcut = config.mean_shortcut ? net.block_mean(x, config.temporal_down, config.spatial_down) : Var();
    Var h = net.conv(enc_conv_in, x);
    for (const Level& l : down) {
      for (const ResBlock& r : l.block) h = net.res(r, h);
      if (l.has_resample) {
        h = net.conv(l.resample, h);
        if (!h.defined()) return h;
      }
    }
    h = net.mid(enc_mid, h);
    Var moments = net.out(enc_norm_out, enc_conv_out, h);
    if (!config.mean_shortcut) return moments;
    // The block means go to mean channels [0, in_channels): moments + [means | zeros].
    const Shape ms = moments.shape();
    TS_CHECK(shortcut.defined() && shortcut.shape()[2] == ms[2], ErrorCode::Internal,
             "Vae encoder: the mean shortcut and the encoder disagree on the latent frames of this chunk");
    const Var zeros(Tensor::zeros({ms[0], ms[1] - config.in_channels, ms[2], ms[3], ms[4]}, DType::F32,
                                  moments.value().device()));
    return add(moments, apply1("concat", {shortcut, zeros}, {{"dim", 1.0}}));
  }

  Var decoder(const Net& net, const Var& z) const {
    const Var shortcut = config.mean_shortcut
                             ? net.block_repeat(slice(z, 1, 0, config.in_channels), config.temporal_down,
                                                config.spatial_down)
                             : Var();
    Var h = net.mid(dec_mid, net.conv(dec_conv_in, z));
    for (int i = int(up.size()) - 1; i >= 0; --i) {
      const Level& l = up[size_t(i)];
      for (const ResBlock& r : l.block) h = net.res(r, h);
      if (l.has_resample) h = net.upsample(l, h);
    }
    Var out = net.out(dec_norm_out, dec_conv_out, h);
    return shortcut.defined() ? add(out, shortcut) : out;
  }

  VaePosterior posterior(const Var& moments) const {
    const int64_t L = config.latent_channels;
    VaePosterior post;
    post.mean = slice(moments, 1, 0, L);
    post.logvar = apply1("clamp", {slice(moments, 1, L, 2 * L)}, {{"min", kLogvarMin}, {"max", kLogvarMax}});
    return post;
  }
};

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


// ---- 5. streaming inference ---------------------------------------------------------------

void VaeTiling::validate(const char* where) const {
  TS_CHECK_ARG(tile >= 0, where, ": tile must be >= 0 latent pixels (0: no tiling), got ", tile);
  if (tile > 0)
    TS_CHECK_ARG(overlap >= 0 && overlap < tile, where, ": overlap must be between 0 and tile - 1 = ", tile - 1,
                 " latent pixels, got ", overlap, " (tile ", tile, ")");
}

namespace {

// One tile along an axis: latent pixels [begin, end) and the blend weight of each of its
// output pixels (normalized: the weights of all tiles covering a pixel sum to 1).
struct AxisTile {
  int64_t begin, end;
  std::vector<float> weight;
};

// n = the fewest tiles that cover `size` with neighbours sharing >= overlap pixels, their
// starts spread evenly (begin_i = i (size - tile) / (n - 1)), so every shared band is at
// least `overlap` wide. Each tile's weight ramps linearly across each band it shares
// with a neighbour ((p + 0.5) / band from its edge inward), then the weights are
// normalized; where exactly two tiles share a band the ramps already sum to 1.
std::vector<AxisTile> axis_tiles(int64_t size, int64_t tile, int64_t overlap, int64_t scale) {
  std::vector<AxisTile> t;
  if (tile <= 0 || size <= tile) {
    t.push_back({0, size, std::vector<float>(size_t(size * scale), 1.0f)});
    return t;
  }
  const int64_t n = (size - overlap + (tile - overlap) - 1) / (tile - overlap);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = i * (size - tile) / (n - 1);
    t.push_back({b, b + tile, {}});
  }
  const int64_t len = tile * scale;
  std::vector<std::vector<double>> w(size_t(n), std::vector<double>(size_t(len), 1.0));
  std::vector<double> sum(size_t(size * scale), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    auto& wi = w[size_t(i)];
    if (i > 0) {
      const double band = double((t[size_t(i - 1)].end - t[size_t(i)].begin) * scale);
      if (band > 0)
        for (int64_t p = 0; p < len; ++p) wi[size_t(p)] = std::min(wi[size_t(p)], (double(p) + 0.5) / band);
    }
    if (i + 1 < n) {
      const double band = double((t[size_t(i)].end - t[size_t(i + 1)].begin) * scale);
      if (band > 0)
        for (int64_t p = 0; p < len; ++p) wi[size_t(p)] = std::min(wi[size_t(p)], (double(len - p) - 0.5) / band);
    }
    for (int64_t p = 0; p < len; ++p) sum[size_t(t[size_t(i)].begin * scale + p)] += wi[size_t(p)];
  }
  for (int64_t i = 0; i < n; ++i) {
    t[size_t(i)].weight.resize(size_t(len));
    for (int64_t p = 0; p < len; ++p)
      t[size_t(i)].weight[size_t(p)] = float(w[size_t(i)][size_t(p)] / sum[size_t(t[size_t(i)].begin * scale + p)]);
  }
  return t;
}

Tensor to_cpu_contiguous(const Tensor& t) {
  return (t.device() == Device::CPU ? t : cuda_backend::to_device(t.contiguous(), Device::CPU)).contiguous();
}

// A stream-mode network run over the tiles of each chunk (one causal cache per tile),
// the tile outputs blended into the chunk's output. in_scale / out_scale: input / output
// pixels per latent pixel (decode 1 / sd, encode sd / 1).
struct TiledStream {
  std::vector<AxisTile> ys, xs;
  std::vector<StreamCache> caches;
  int64_t in_scale = 1, out_scale = 1;

  void init(int64_t h, int64_t w, const VaeTiling& tiling, int64_t in_s, int64_t out_s) {
    in_scale = in_s;
    out_scale = out_s;
    ys = axis_tiles(h, tiling.tile, tiling.overlap, out_s);
    xs = axis_tiles(w, tiling.tile, tiling.overlap, out_s);
    caches.assign(ys.size() * xs.size(), StreamCache{});
  }
  int64_t tiles() const { return int64_t(caches.size()); }

  // fn(cache, tile input) -> tile output, or an undefined Var (no output this chunk:
  // then no tile has one, as they share the temporal structure).
  template <class Fn>
  Tensor run(const Tensor& x, const Fn& fn) {
    if (caches.size() == 1) {
      caches[0].begin_chunk();
      Var y = fn(&caches[0], Var(x));
      return y.defined() ? y.value() : Tensor();
    }
    Tensor out;
    for (size_t i = 0; i < ys.size(); ++i)
      for (size_t j = 0; j < xs.size(); ++j) {
        StreamCache& cache = caches[i * xs.size() + j];
        cache.begin_chunk();
        Tensor xt = x.slice(3, ys[i].begin * in_scale, ys[i].end * in_scale)
                        .slice(4, xs[j].begin * in_scale, xs[j].end * in_scale)
                        .contiguous();
        Var y = fn(&cache, Var(xt));
        if (!y.defined()) continue;
        Tensor yt = to_cpu_contiguous(y.value());
        y = Var();
        const Shape& s = yt.shape();
        if (!out.defined()) out = Tensor::zeros({s[0], s[1], s[2], ys.back().end * out_scale, xs.back().end * out_scale});
        const int64_t H = out.shape()[3], W = out.shape()[4], th = s[3], tw = s[4];
        const int64_t y0 = ys[i].begin * out_scale, x0 = xs[j].begin * out_scale;
        const float* wy = ys[i].weight.data();
        const float* wx = xs[j].weight.data();
        const float* src = yt.f32();
        float* dst = out.f32();
        parallel_for(s[0] * s[1] * s[2], 1, [&](int64_t b, int64_t e) {
          for (int64_t plane = b; plane < e; ++plane) {
            const float* sp = src + plane * th * tw;
            float* dp = dst + plane * H * W + y0 * W + x0;
            for (int64_t yy = 0; yy < th; ++yy)
              for (int64_t xx = 0; xx < tw; ++xx) dp[yy * W + xx] += wy[yy] * wx[xx] * sp[yy * tw + xx];
          }
        });
      }
    return out;
  }
};

// Copies frames [N, C, t, H, W] into whole [N, C, T, H, W] at frame `first` (CPU, contiguous).
void put_frames(Tensor& whole, const Tensor& frames, int64_t first) {
  Tensor f = frames.contiguous();
  const Shape& s = f.shape();
  const int64_t T = whole.shape()[2], plane = s[3] * s[4];
  for (int64_t nc = 0; nc < s[0] * s[1]; ++nc)
    std::memcpy(whole.f32() + (nc * T + first) * plane, f.f32() + nc * s[2] * plane, size_t(s[2] * plane) * sizeof(float));
}

}  // namespace

struct VaeDecodeStream::Impl {
  const Vae* vae;
  VaeTiling tiling;
  TiledStream tiled;
  Shape first;  // the first push's shape
  int64_t latent = 0, frames = 0;
};

VaeDecodeStream::VaeDecodeStream(const Vae& vae, const VaeTiling& tiling) : impl_(std::make_unique<Impl>()) {
  tiling.validate("VaeDecodeStream");
  impl_->vae = &vae;
  impl_->tiling = tiling;
}
VaeDecodeStream::~VaeDecodeStream() = default;
VaeDecodeStream::VaeDecodeStream(VaeDecodeStream&&) noexcept = default;
VaeDecodeStream& VaeDecodeStream::operator=(VaeDecodeStream&&) noexcept = default;
int64_t VaeDecodeStream::latent_frames() const { return impl_->latent; }
int64_t VaeDecodeStream::frames() const { return impl_->frames; }
int64_t VaeDecodeStream::tiles() const { return impl_->latent ? impl_->tiled.tiles() : 0; }

Tensor VaeDecodeStream::push(const Tensor& z) {
  Impl& s = *impl_;
  s.vae->check_latent(z.shape(), "VaeDecodeStream.push");
  const Shape& zs = z.shape();
  if (s.latent == 0) {
    s.first = zs;
    s.tiled.init(zs[3], zs[4], s.tiling, 1, s.vae->config().spatial_down);
  } else {
    TS_CHECK_SHAPE(zs[0] == s.first[0] && zs[3] == s.first[3] && zs[4] == s.first[4],
                   "VaeDecodeStream.push: z ", shape_str(zs), " must keep N, h and w of the first chunk ",
                   shape_str(s.first));
  }
  NoGradGuard ng;
  const Vae::Impl& m = *s.vae->impl_;
  Tensor out = s.tiled.run(z, [&](StreamCache* cache, const Var& zt) { return m.decoder(m.net(cache), zt); });
  s.latent += zs[2];
  s.frames += out.shape()[2];
  return out;
}

struct VaeEncodeStream::Impl {
  const Vae* vae;
  VaeTiling tiling;
  TiledStream tiled;
  Shape first;
  int64_t frames = 0, latent = 0;
};

VaeEncodeStream::VaeEncodeStream(const Vae& vae, const VaeTiling& tiling) : impl_(std::make_unique<Impl>()) {
  tiling.validate("VaeEncodeStream");
  impl_->vae = &vae;
  impl_->tiling = tiling;
}
VaeEncodeStream::~VaeEncodeStream() = default;
VaeEncodeStream::VaeEncodeStream(VaeEncodeStream&&) noexcept = default;
VaeEncodeStream& VaeEncodeStream::operator=(VaeEncodeStream&&) noexcept = default;
int64_t VaeEncodeStream::frames() const { return impl_->frames; }
int64_t VaeEncodeStream::latent_frames() const { return impl_->latent; }
int64_t VaeEncodeStream::tiles() const { return impl_->frames ? impl_->tiled.tiles() : 0; }

VaePosterior VaeEncodeStream::push(const Tensor& x) {
  Impl& s = *impl_;
  const VaeConfig& c = s.vae->config();
  const Shape& xs = x.shape();
  const char* where = "VaeEncodeStream.push";
  TS_CHECK_SHAPE(xs.size() == 5, where, ": x must be 5-d [N, C, t, H, W], got ", shape_str(xs));
  TS_CHECK_SHAPE(xs[1] == c.in_channels, where, ": x has ", xs[1], " channels, the model takes in_channels = ",
                 c.in_channels, " (x ", shape_str(xs), ")");
  TS_CHECK_SHAPE(xs[0] >= 1 && xs[2] >= 1, where, ": x needs N >= 1 and t >= 1 frames, got ", shape_str(xs));
  TS_CHECK_SHAPE(xs[3] >= 1 && xs[3] % c.spatial_down == 0 && xs[4] >= 1 && xs[4] % c.spatial_down == 0, where,
                 ": H and W must be positive multiples of spatial_down = ", c.spatial_down, " (x ", shape_str(xs), ")");
  if (s.frames == 0) {
    s.first = xs;
    s.tiled.init(xs[3] / c.spatial_down, xs[4] / c.spatial_down, s.tiling, c.spatial_down, 1);
  } else {
    TS_CHECK_SHAPE(xs[0] == s.first[0] && xs[3] == s.first[3] && xs[4] == s.first[4], where, ": x ", shape_str(xs),
                   " must keep N, H and W of the first chunk ", shape_str(s.first));
  }
  NoGradGuard ng;
  const Vae::Impl& m = *s.vae->impl_;
  Tensor moments = s.tiled.run(x, [&](StreamCache* cache, const Var& xt) { return m.encoder(m.net(cache), xt); });
  s.frames += xs[2];
  if (!moments.defined()) return {};
  s.latent += moments.shape()[2];
  return m.posterior(Var(moments));
}

Tensor Vae::decode_chunked(const Tensor& z, int64_t chunk_frames, const VaeTiling& tiling,
                           const FrameSink& on_frames) const {
  check_latent(z.shape(), "Vae.decode_chunked");
  TS_CHECK_ARG(chunk_frames >= 1, "Vae.decode_chunked: chunk_frames must be >= 1 latent frame, got ", chunk_frames);
  tiling.validate("Vae.decode_chunked");
  NoGradGuard ng;
  VaeDecodeStream stream(*this, tiling);
  const int64_t t = z.shape()[2];
  Tensor whole;
  std::vector<Var> parts;  // device output, joined at the end
  for (int64_t t0 = 0; t0 < t; t0 += chunk_frames) {
    const int64_t first = stream.frames();
    Tensor frames = stream.push(z.slice(2, t0, std::min(t, t0 + chunk_frames)).contiguous());
    if (on_frames) {
      on_frames(frames, first);
    } else if (frames.device() == Device::CPU) {
      if (!whole.defined()) whole = Tensor::empty(impl_->config.video_shape(z.shape()));
      put_frames(whole, frames, first);
    } else {
      parts.emplace_back(frames);
    }
  }
  if (!parts.empty()) whole = parts.size() == 1 ? parts[0].value() : apply1("concat", parts, {{"dim", 2.0}}).value();
  return whole;
}

Tensor Vae::decode_chunked(const Tensor& z, int64_t chunk_frames, const FrameSink& on_frames) const {
  return decode_chunked(z, chunk_frames, VaeTiling{}, on_frames);
}

VaePosterior Vae::encode_chunked(const Tensor& x, int64_t chunk_frames, const VaeTiling& tiling) const {
  check_video(x.shape(), "Vae.encode_chunked");
  TS_CHECK_ARG(chunk_frames >= 1, "Vae.encode_chunked: chunk_frames must be >= 1 video frame, got ", chunk_frames);
  tiling.validate("Vae.encode_chunked");
  NoGradGuard ng;
  VaeEncodeStream stream(*this, tiling);
  const int64_t T = x.shape()[2];
  std::vector<Var> mean, logvar;
  for (int64_t t0 = 0; t0 < T;) {
    const int64_t t1 = std::min(T, t0 + chunk_frames + (t0 == 0 ? 1 : 0));
    VaePosterior p = stream.push(x.slice(2, t0, t1).contiguous());
    if (p.mean.defined()) {
      mean.push_back(p.mean);
      logvar.push_back(p.logvar);
    }
    t0 = t1;
  }
  VaePosterior out;
  out.mean = mean.size() == 1 ? mean[0] : apply1("concat", mean, {{"dim", 2.0}});
  out.logvar = logvar.size() == 1 ? logvar[0] : apply1("concat", logvar, {{"dim", 2.0}});
  return out;
}

VaePosterior Vae::encode_chunked(const Tensor& x, int64_t chunk_frames) const {
  return encode_chunked(x, chunk_frames, VaeTiling{});
}

}  // namespace tessera::models
