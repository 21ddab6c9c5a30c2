// The VAE's layers and its forward pass, layer by layer (docs/VAE.md). Private to
// native/models: vae.cpp builds, trains and saves the model, vae_stream.cpp streams it
// (chunks with causal caches, tiles with blending); both run the network through
// Vae::Impl, defined here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/op.h"
#include "models/vae.h"

namespace tessera::models {
namespace vae_net {

// The posterior's logvar range: clamped to [kLogvarMin, kLogvarMax] by the op table's
// clamp (its gradient is PyTorch's: it passes at the bounds themselves).
constexpr double kLogvarMin = -30.0, kLogvarMax = 20.0;
constexpr double kLogvarInit = -6.0;  // initial logvar bias (see the Vae constructor)

// ---- op helpers -------------------------------------------------------------------

using Ints = std::vector<int64_t>;

inline Var reshape(const Var& x, const Ints& shape) { return apply1("reshape", {x}, {{"shape", shape}}); }
inline Var permute(const Var& x, const Ints& dims) { return apply1("permute", {x}, {{"dims", dims}}); }
inline Var silu(const Var& x) { return apply1("silu", {x}); }
inline Var add(const Var& a, const Var& b) { return apply1("add", {a, b}); }
inline Var mul(const Var& a, const Var& b) { return apply1("mul", {a, b}); }
inline Var scale(const Var& x, double alpha) { return apply1("scale", {x}, {{"alpha", alpha}}); }
inline Var slice(const Var& x, int dim, int64_t start, int64_t end) {
  return apply1("slice", {x}, {{"dim", double(dim)}, {"start", double(start)}, {"end", double(end)}});
}

// ---- layers (parameters only; vae.cpp builds them in state_dict order) -------------

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
// The linear shortcut (VaeConfig::linear_shortcut) of one cell shape, t = 1 (frame 0) or
// td (the later groups), D = C t s s values per cell in the order (c, t, y, x):
//   encoder: w [L, C, t, s, s], b [L]          z_cell = w v + b       (a Conv3d, stride = kernel)
//   decoder: w [L, C, t, s, s], b [C, t, s, s] v = w^T z_cell + b     (a ConvTranspose3d, per-value bias)
struct CellLinear {
  Var w, b;
};
struct LinearShortcut {
  CellLinear enc_first, enc_rest, dec_first, dec_rest;
};

struct Level {
  std::vector<ResBlock> block;
  bool has_resample = false;  // downsample (encoder) or upsample (decoder) after the blocks
  int64_t temporal = 1;       // its temporal stride / factor
  Conv resample;
};

// ---- the forward pass -------------------------------------------------------------

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
  // backward); stream mode as in block_cells.
  Var block_mean(const Var& x, int64_t td, int64_t s) const {
    return block_cells(x, td, [&](const Var& v, int64_t g, int64_t t, bool) {
      // [N, C, g t, H, W] -> [N, C, g, H/s, W/s]
      const Shape sh = v.shape();
      Var blocks = reshape(v, {sh[0], sh[1], g, t, sh[3] / s, s, sh[4] / s, s});
      return apply1("mean", {blocks}, {{"dims", Ints{3, 5, 7}}});
    });
  }

  // The linear shortcut, encoder half: each cell's values through its CellLinear,
  // [N, C, T, H, W] -> [N, L, 1 + (T-1)/td, H/s, W/s] (stream mode as in block_cells).
  Var linear_cells(const LinearShortcut& ls, const Var& x, int64_t td, int64_t s) const {
    return block_cells(x, td, [&](const Var& v, int64_t g, int64_t t, bool first_frame) {
      return cells_to_latent(first_frame ? ls.enc_first : ls.enc_rest, v, g, t, s);
    });
  }

  // Latent cells of v [N, C, g t, H, W] (g groups of t frames, s x s pixels) as rows of
  // C t s s values (c, t, y, x), times e.w^T plus e.b: [N, L, g, H/s, W/s]. The weights
  // enter as constants (no gradient: the optimizer never changes the shortcut).
  static Var cells_to_latent(const CellLinear& e, const Var& v, int64_t g, int64_t t, int64_t s) {
    const Shape sh = v.shape();
    const int64_t N = sh[0], C = sh[1], h = sh[3] / s, w = sh[4] / s, L = e.w.shape()[0], D = C * t * s * s;
    Var rows = reshape(permute(reshape(v, {N, C, g, t, h, s, w, s}), {0, 2, 4, 6, 1, 3, 5, 7}), {N * g * h * w, D});
    Var out = apply1("matmul", {rows, reshape(Var(e.w.value(), false), {L, D}), Var(e.b.value(), false)},
                     {{"transB", true}});
    return permute(reshape(out, {N, g, h, w, L}), {0, 4, 1, 2, 3});
  }

  // The decoder half: z [N, L, g, h, w] -> [N, C, g t, h s, w s], each latent cell's
  // d.w^T z + d.b spread over its t x s x s block.
  static Var latent_to_cells(const CellLinear& d, const Var& z, int64_t t, int64_t s) {
    const Shape sh = z.shape();
    const int64_t N = sh[0], L = sh[1], g = sh[2], h = sh[3], w = sh[4];
    const int64_t C = d.w.shape()[1], D = C * t * s * s;
    Var rows = reshape(permute(z, {0, 2, 3, 4, 1}), {N * g * h * w, L});
    Var out = apply1("matmul", {rows, reshape(Var(d.w.value(), false), {L, D}), reshape(Var(d.b.value(), false), {D})});
    return reshape(permute(reshape(out, {N, g, h, w, C, t, s, s}), {0, 4, 1, 5, 2, 6, 3, 7}), {N, C, g * t, h * s, w * s});
  }

  // The decoder half over a chunk: frame 0's latent frame (the first chunk's first) through
  // dec_first, every other through dec_rest: [N, L, t, h, w] -> [N, C, 1 + td (t-1), H, W]
  // (td t after the first chunk).
  Var linear_uncells(const LinearShortcut& ls, const Var& z, int64_t td, int64_t s) const {
    bool first = true;
    if (cache) {
      StreamSlot& slot = cache->take();
      first = !slot.started;
      slot.started = true;
    }
    const int64_t t = z.shape()[2];
    std::vector<Var> parts;
    if (first) parts.push_back(latent_to_cells(ls.dec_first, t == 1 ? z : slice(z, 2, 0, 1), 1, s));
    if (t > (first ? 1 : 0)) parts.push_back(latent_to_cells(ls.dec_rest, first ? slice(z, 2, 1, t) : z, td, s));
    return parts.size() == 1 ? parts[0] : apply1("concat", parts, {{"dim", 2.0}});
  }

  // Frame 0 alone, then groups of td frames, each part coded by `code(part, groups,
  // frames per group, is frame 0)`, concatenated over time. In stream mode the frames of
  // an unfinished group wait in the slot for the next chunk; an undefined Var when this
  // chunk completes no group (then the encoder's stride-2 convs complete no latent frame
  // either: both finish latent frame k at frame td k).
  template <class Code>
  Var block_cells(const Var& x, int64_t td, const Code& code) const {
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
    std::vector<Var> parts;
    if (lead) parts.push_back(code(n == 1 ? frames : slice(frames, 2, 0, 1), 1, 1, true));
    if (groups) parts.push_back(code(lead || used < n ? slice(frames, 2, lead, used) : frames, groups, td, false));
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

}  // namespace vae_net

struct Vae::Impl {
  VaeConfig config;
  std::vector<std::pair<std::string, Var>> params;
  // encoder
  vae_net::Conv enc_conv_in, enc_conv_out;
  std::vector<vae_net::Level> down;
  vae_net::Mid enc_mid;
  vae_net::Norm enc_norm_out;
  // decoder
  vae_net::Conv dec_conv_in, dec_conv_out;
  vae_net::Mid dec_mid;
  std::vector<vae_net::Level> up;  // indexed by level, run from the top level down
  vae_net::Norm dec_norm_out;
  vae_net::LinearShortcut linear;  // when config.linear_shortcut

  vae_net::Net net(vae_net::StreamCache* cache = nullptr) const {
    return vae_net::Net{config.norm_groups, config.norm_eps, cache};
  }

  // The encoder up to the moments [N, 2L, t, h, w] (mean | raw logvar); in stream mode an
  // undefined Var when this chunk completes no latent frame.
  Var encoder(const vae_net::Net& net, const Var& x) const {
    const int64_t td = config.temporal_down, sd = config.spatial_down;
    const Var shortcut = config.mean_shortcut     ? net.block_mean(x, td, sd)
                         : config.linear_shortcut ? net.linear_cells(linear, x, td, sd)
                                                  : Var();
    Var h = net.conv(enc_conv_in, x);
    for (const vae_net::Level& l : down) {
      for (const vae_net::ResBlock& r : l.block) h = net.res(r, h);
      if (l.has_resample) {
        h = net.conv(l.resample, h);
        if (!h.defined()) return h;
      }
    }
    h = net.mid(enc_mid, h);
    Var moments = net.out(enc_norm_out, enc_conv_out, h);
    if (!config.mean_shortcut && !config.linear_shortcut) return moments;
    // The shortcut goes to the first mean channels (the block means: in_channels of them;
    // the linear code: all L): moments + [shortcut | zeros].
    const Shape ms = moments.shape();
    TS_CHECK(shortcut.defined() && shortcut.shape()[2] == ms[2], ErrorCode::Internal,
             "Vae encoder: the shortcut and the encoder disagree on the latent frames of this chunk");
    const Var zeros(Tensor::zeros({ms[0], ms[1] - shortcut.shape()[1], ms[2], ms[3], ms[4]}, DType::F32,
                                  moments.value().device()));
    return vae_net::add(moments, apply1("concat", {shortcut, zeros}, {{"dim", 1.0}}));
  }

  Var decoder(const vae_net::Net& net, const Var& z) const {
    const int64_t td = config.temporal_down, sd = config.spatial_down;
    const Var shortcut = config.mean_shortcut ? net.block_repeat(vae_net::slice(z, 1, 0, config.in_channels), td, sd)
                         : config.linear_shortcut ? net.linear_uncells(linear, z, td, sd)
                                                  : Var();
    Var h = net.mid(dec_mid, net.conv(dec_conv_in, z));
    for (int i = int(up.size()) - 1; i >= 0; --i) {
      const vae_net::Level& l = up[size_t(i)];
      for (const vae_net::ResBlock& r : l.block) h = net.res(r, h);
      if (l.has_resample) h = net.upsample(l, h);
    }
    Var out = net.out(dec_norm_out, dec_conv_out, h);
    return shortcut.defined() ? vae_net::add(out, shortcut) : out;
  }

  VaePosterior posterior(const Var& moments) const {
    const int64_t L = config.latent_channels;
    VaePosterior post;
    post.mean = vae_net::slice(moments, 1, 0, L);
    post.logvar = apply1("clamp", {vae_net::slice(moments, 1, L, 2 * L)},
                         {{"min", vae_net::kLogvarMin}, {"max", vae_net::kLogvarMax}});
    return post;
  }
};

}  // namespace tessera::models
