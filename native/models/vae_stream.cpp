// Streaming inference for the causal 3D-conv VAE (models/vae.h, docs/VAE.md): encode
// and decode in temporal chunks, each causal conv keeping the frames the next chunk
// needs (exact), optionally in spatial tiles blended across their overlaps (approximate).
#include "models/vae.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cuda_backend.h"
#include "core/error.h"
#include "core/op.h"
#include "core/threadpool.h"
#include "models/vae_net.h"

namespace tessera::models {

using namespace vae_net;

// ---- chunks and tiles ---------------------------------------------------------------------

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
