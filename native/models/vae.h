// The video compression network: a causal 3D-conv VAE (docs/VAE.md).
//
// Video x [N, 3, T, H, W] in [-1, 1] (an image is T = 1) is encoded to a diagonal
// Gaussian over latents [N, L, 1 + (T-1)/td, H/sd, W/sd] (L = latent_channels,
// sd = spatial_down, td = temporal_down) and decoded back. Written once against
// the op table (conv3d, group_norm, silu, attention, matmul, permute, reshape,
// slice, upsample, add/mul/scale, sum), so the autograd tape gives every
// gradient; the PyTorch reference of the same architecture, with the same
// parameter names, is test/fixtures/vae/make_vae_fixtures.py.
//
// Architecture (levels = log2(sd) + 1, C_i = base_channels * channel_mult[i]):
//
//   Encoder  conv_in (3 -> C_0)
//            level i = 0 .. levels-1: num_res_blocks ResBlocks (-> C_i);
//                      then, except after the last level, Downsample:
//                      causal conv 3x3x3 with stride (st, 2, 2), st = 2 for the first
//                      log2(td) downsamples, else 1 (T -> floor((T-1)/st) + 1)
//            mid: ResBlock, spatial self-attention (optional), ResBlock
//            GroupNorm, SiLU, conv_out (-> 2L = mean | logvar), logvar clamped to [-30, 20]
//   Decoder  conv_in (L -> C_top), mid (ResBlock, attention, ResBlock)
//            level i = levels-1 .. 0: num_res_blocks + 1 ResBlocks (-> C_i);
//                      then, except after level 0, Upsample: nearest x(ut, 2, 2),
//                      drop the first frame when ut = 2 (t -> 1 + 2 (t-1)), causal conv 3x3x3;
//                      ut mirrors the encoder's downsample at the same resolution
//            GroupNorm, SiLU, conv_out (-> 3)
//   ResBlock(Cin, Cout): h = conv1(silu(norm1(x))); h = conv2(silu(norm2(h)));
//                        out = (Cin != Cout ? nin_shortcut(x) : x) + h   (nin_shortcut: 1x1x1 conv)
//   Attention: h = norm(x); q, k, v = 1x1x1 projections of h; per frame, over the H*W
//              tokens, single head of width C, softmax(q k^T / sqrt(C)) v; out = x + proj_out(o)
//
// Causality: every 3x3x3 conv is causal in time (2 zero frames before frame 0, none
// after; spatial padding 1), GroupNorm statistics are per frame (channels-in-group x
// H x W of one frame), attention is within a frame and the temporal upsample keeps
// frame 0 alone. So latent frame j depends only on video frames <= td*j (frame 0 is
// encoded alone: an image is a one-frame video), output frame f depends only on
// latent frames <= ceil(f/td), and a prefix of the input gives exactly the prefix of
// the output. Chunked encoding and decoding are therefore exact when each causal conv
// prepends the last kt - st frames of its previous chunk's input instead of zero
// padding and the temporal upsample drops frame 0 only in the first chunk
// (docs/VAE.md, "Causality and chunking").
//
// Parameter names are the PyTorch reference's state_dict keys ("encoder.conv_in.weight",
// "encoder.down.1.block.0.nin_shortcut.bias", "decoder.up.2.upsample.conv.weight", ...),
// so weights move between the two through safetensors.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/safetensors.h"
#include "core/tensor.h"

namespace tessera::models {

struct VaeConfig {
  int64_t in_channels = 3;      // RGB (also the decoder's output channels)
  int64_t latent_channels = 8;  // L
  int64_t base_channels = 64;
  std::vector<int64_t> channel_mult{1, 2, 4, 4};  // per level; log2(spatial_down) + 1 entries
  int64_t num_res_blocks = 2;   // per encoder level (the decoder has one more per level)
  int64_t spatial_down = 8;     // 4, 8 or 16
  int64_t temporal_down = 4;    // 1, 2 or 4
  int64_t norm_groups = 8;      // GroupNorm groups; divides every C_i
  bool mid_attention = true;    // self-attention in the encoder's and decoder's mid blocks
  double norm_eps = 1e-6;       // GroupNorm epsilon
  // The mean shortcut: the encoder adds to the first in_channels latent means the mean of
  // x over each latent cell's block (frame 0 alone, then groups of temporal_down frames;
  // spatial_down x spatial_down pixels), and the decoder adds those latent channels back to
  // its output, repeated over the same block. The network then learns the residual of a
  // block-mean image instead of absolute colour through the bottleneck. Needs
  // latent_channels >= in_channels.
  bool mean_shortcut = false;
  // The linear shortcut, a learned-free generalization of the mean shortcut: the encoder
  // adds to all latent_channels means a fixed linear code of each latent cell (frame 0's
  // in_channels x sd x sd values, then each group of td frames' in_channels x td x sd x sd),
  // W v + b, and the decoder adds back U^T z + c, spread over the cell. The weights are
  // parameters ("encoder.shortcut.{first,rest}", "decoder.shortcut.{first,rest}") that the
  // optimizer never changes: they start as the mean shortcut (W averages channel c into
  // latent channel c < in_channels) and LinearShortcutFit (models/vae_shortcut.h) sets them
  // to the principal components of training cells, so that the model starts as the best
  // linear code of its latent size and the network learns only what is nonlinear.
  // Excludes mean_shortcut.
  bool linear_shortcut = false;

  // Throws InvalidArgument naming the first broken rule and its value.
  void validate() const;
  int levels() const;                      // log2(spatial_down) + 1
  int64_t channels(int level) const;       // base_channels * channel_mult[level]
  int64_t temporal_stride(int down) const; // of the down-th downsample (2 for the first log2(td))
  // Latent shape of a video shape (checks the input rules, see Vae::check_video), and back.
  Shape latent_shape(const Shape& video) const;
  Shape video_shape(const Shape& latent) const;
  // JSON with snake_case keys as above (the "config" metadata of a model file).
  std::string to_json() const;
  static VaeConfig from_json(const std::string& json);  // unknown keys are an error; missing keys keep defaults
};

// Diagonal Gaussian posterior q(z | x).
struct VaePosterior {
  Var mean;    // [N, L, t, h, w]
  Var logvar;  // same, clamped to [-30, 20]
  Var stddev() const;                                       // exp(0.5 logvar)
  Var sample(const Var& eps) const;                         // mean + exp(0.5 logvar) * eps
  Var sample(uint64_t seed, uint64_t offset = 0) const;     // eps = Philox randn(shape, seed, offset)
  Var mode() const { return mean; }
  // 0.5 * (1/N) * sum over all elements of (mean^2 + exp(logvar) - 1 - logvar): KL(q || N(0, I))
  // summed over latent elements, averaged over the batch. Shape [].
  Var kl() const;
};

struct VaeOutput {
  Var recon;   // [N, 3, T, H, W]
  Var mean, logvar, z;
  Var kl;      // []
};

struct VaeTiling;  // spatial tiles for streaming inference (below)

class Vae {
 public:
  // Parameters initialized as PyTorch's defaults for Conv3d (weight and bias uniform in
  // +-1/sqrt(fan_in)) and GroupNorm (weight 1, bias 0), drawn from the Philox stream of
  // `seed` (element i of the parameters, in named_parameters order, is uniform i): the
  // same numbers on every machine, not torch's numbers.
  explicit Vae(const VaeConfig& config, uint64_t seed = 0);
  ~Vae();
  Vae(Vae&&) noexcept;
  Vae& operator=(Vae&&) noexcept;
  Vae(const Vae&) = delete;
  Vae& operator=(const Vae&) = delete;

  // A model file: the parameters under their names, metadata format = "tessera.vae"
  // and config = VaeConfig::to_json(). load checks every name and shape. It also reads
  // the weights of a training checkpoint (format "tessera.vae.checkpoint", see
  // VaeTrainer), leaving its optimizer state behind.
  static Vae load(const std::string& path);
  // dtype F16 / BF16 halves the file (weights rounded to nearest); load() reads any of
  // F32 / F16 / BF16 back into float32.
  void save(const std::string& path, const std::map<std::string, std::string>& extra_metadata = {},
            DType dtype = DType::F32) const;

  const VaeConfig& config() const;
  // In the PyTorch reference's state_dict order. The Vars are the model's own:
  // gradients land in them and optimizers update them.
  const std::vector<std::pair<std::string, Var>>& named_parameters() const;
  std::vector<Var> parameters() const;
  int64_t num_parameters() const;
  // Sets every parameter from named tensors (any float dtype; converted to f32).
  // Throws naming the first missing, unexpected (when strict) or mis-shaped tensor.
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& tensors, bool strict = true,
                       const std::string& what = "state dict");

  // x [N, in_channels, T, H, W], T = 1 + temporal_down * k, H and W multiples of spatial_down.
  VaePosterior encode(const Var& x) const;
  // z [N, latent_channels, t, h, w] -> [N, in_channels, 1 + temporal_down (t-1), h sd, w sd].
  Var decode(const Var& z) const;
  // encode, z = posterior.sample(eps), decode; eps has the latent shape.
  VaeOutput forward(const Var& x, const Var& eps) const;
  VaeOutput forward(const Var& x, uint64_t seed, uint64_t offset = 0) const;

  // The input rules, as errors (ShapeMismatch) that name the rule and the value.
  void check_video(const Shape& x, const char* where = "Vae.encode") const;
  void check_latent(const Shape& z, const char* where = "Vae.decode") const;

  // ---- streaming inference (no gradients; see VaeDecodeStream / VaeEncodeStream) ----
  // frames [N, in_channels, t, H, W] are output frames first_frame .. first_frame + t - 1.
  using FrameSink = std::function<void(const Tensor& frames, int64_t first_frame)>;
  // Decodes z in chunks of `chunk_frames` latent frames (the last may be shorter), each
  // spatially tiled when tiling.tile > 0. Without tiling the result equals decode(z).
  // With on_frames, each chunk's frames go to it as soon as they are finished and
  // nothing is kept: memory is one chunk's activations plus the caches, whatever t is,
  // and the return value is an undefined Tensor. Without on_frames the whole video is
  // returned.
  Tensor decode_chunked(const Tensor& z, int64_t chunk_frames, const VaeTiling& tiling,
                        const FrameSink& on_frames = {}) const;
  Tensor decode_chunked(const Tensor& z, int64_t chunk_frames, const FrameSink& on_frames = {}) const;
  // Encodes x in chunks: 1 + chunk_frames video frames, then chunk_frames at a time (the
  // last may be shorter). Any split is exact (see VaeEncodeStream); with chunk_frames a
  // multiple of temporal_down each chunk gives chunk_frames / temporal_down latent frames
  // (the first one more). Without tiling mean and logvar equal encode(x)'s.
  VaePosterior encode_chunked(const Tensor& x, int64_t chunk_frames, const VaeTiling& tiling) const;
  VaePosterior encode_chunked(const Tensor& x, int64_t chunk_frames) const;

 private:
  friend class VaeDecodeStream;
  friend class VaeEncodeStream;
  struct Impl;
  Vae(const VaeConfig& config, uint64_t seed, bool init);
  std::unique_ptr<Impl> impl_;
};

// ---- streaming inference: temporal chunks with a causal cache, spatial tiles ------------
//
// Temporal chunks are exact. Every causal conv of the model, in stream mode, runs on
// [its cache, this chunk's input] instead of [causal zero padding, the whole input]; the
// cache starts as the kt - 1 = 2 zero frames of the causal padding and afterwards holds
// the frames of that padded input which its next output window still needs: the last 2
// for a stride-1 conv, and for the encoder's stride-2 downsamples what is left after the
// last whole window (1 frame when the chunk split lines up with the stride, else 2). The
// decoder's temporal upsample drops its first frame in the first chunk only. GroupNorm
// and attention are per frame, so every output frame is computed by the same operations
// as in the whole-video pass: chunked output equals the whole output (docs/VAE.md,
// "Inference"), and memory holds one chunk's activations plus the caches (2 frames of
// each causal conv's input), independent of the video's length.
//
// Spatial tiles are not exact: GroupNorm statistics, attention and the convs' zero
// padding at tile borders see the tile, not the frame. Tiles are squares of `tile`
// latent pixels, per axis the fewest that cover the frame with neighbours sharing at
// least `overlap` latent pixels, spread evenly from edge to edge; each tile keeps
// its own causal caches, and overlapping outputs are blended with linear ramps across
// each shared band (weights normalized to sum to 1). Tiled output is assembled on the CPU.
struct VaeTiling {
  int64_t tile = 0;     // tile side in latent pixels (encode: tile * spatial_down video pixels); 0: no tiling
  int64_t overlap = 4;  // latent pixels shared by neighbouring tiles, 0 <= overlap < tile
  // Throws InvalidArgument naming the rule and the value.
  void validate(const char* where) const;
};

// Decoding latent frames as they come (a sampler producing them chunk by chunk, or
// decode_chunked). The Vae must outlive the stream. Inference only (no tape).
class VaeDecodeStream {
 public:
  explicit VaeDecodeStream(const Vae& vae, const VaeTiling& tiling = {});
  ~VaeDecodeStream();
  VaeDecodeStream(VaeDecodeStream&&) noexcept;
  VaeDecodeStream& operator=(VaeDecodeStream&&) noexcept;
  // z [N, L, t, h, w], t >= 1: the next t latent frames (N, h and w as in the first push).
  // Returns the output frames they finish: 1 + td (t - 1) for the first push, td t after.
  Tensor push(const Tensor& z);
  int64_t latent_frames() const;  // pushed so far
  int64_t frames() const;         // returned so far
  int64_t tiles() const;          // tiles per frame (1 without tiling)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Encoding video frames as they come (a camera, a file read in pieces, encode_chunked).
// Any split of the video is exact: latent frame j depends on video frames 0 .. td j only,
// and each push returns the latent frames it completes, so after F frames in all
// 1 + floor((F - 1) / td) latent frames have been returned. Splits of 1 + td k frames,
// then td k at a time, return k (first: k + 1) latent frames per push.
class VaeEncodeStream {
 public:
  explicit VaeEncodeStream(const Vae& vae, const VaeTiling& tiling = {});
  ~VaeEncodeStream();
  VaeEncodeStream(VaeEncodeStream&&) noexcept;
  VaeEncodeStream& operator=(VaeEncodeStream&&) noexcept;
  // x [N, in_channels, t, H, W], t >= 1, H and W multiples of spatial_down (as in the first
  // push). Returns the posterior of the completed latent frames; mean and logvar are
  // undefined Vars when this push completes none.
  VaePosterior push(const Tensor& x);
  int64_t frames() const;         // pushed so far
  int64_t latent_frames() const;  // returned so far
  int64_t tiles() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::models
