// Streaming inference of the VAE (models/vae.h, docs/VAE.md "Inference"): decoding and
// encoding in temporal chunks with causal caches give exactly the whole-video result,
// for chunk sizes that do not divide the length and for any split of the encoder's
// input; spatial tiles blend to within a PSNR bound of the untiled output; and the
// peak memory of a chunked, tiled decode does not grow with the video's length
// (257 vs 17 frames of 256 x 256, measured in child processes and printed).
//
// Fixtures (the reference models' weights) are found as in test_vae: $TESSERA_VAE_FIXTURES,
// else argv[1], else <source tree>/test/fixtures/vae.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <malloc.h>
#include <unistd.h>

#include "core/autograd.h"
#include "core/cpu_allocator.h"
#include "core/error.h"
#include "core/optimizer.h"
#include "models/vae.h"
#include "tests/check.h"
#include "tests/vae_test_util.h"

using namespace tessera;
using namespace tessera::models;
using tessera_test::fixture;
using tessera_test::max_abs;
using tessera_test::max_abs_diff;
using tessera_test::throws_with;

static std::string g_self;  // this executable, for the memory children

// PSNR for data in [-1, 1] (peak-to-peak 2), as lib/metrics.ts: 10 log10(4 / MSE).
static double psnr(const Tensor& a, const Tensor& b) {
  Tensor x = a.contiguous(), y = b.contiguous();
  double se = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double d = double(x.f32()[i]) - y.f32()[i];
    se += d * d;
  }
  const double mse = se / double(std::max<int64_t>(1, x.numel()));
  return mse > 0 ? 10 * std::log10(4 / mse) : INFINITY;
}

static Tensor join_frames(const std::vector<Tensor>& parts) {
  std::vector<Var> v;
  for (const Tensor& t : parts) v.emplace_back(t);
  return v.size() == 1 ? parts[0] : apply1("concat", v, {{"dim", 2.0}}).value();
}

// Smooth moving patterns in [-0.8, 0.8], [N, 3, T, H, W].
static Tensor smooth_video(int64_t N, int64_t T, int64_t H, int64_t W, double phase = 0) {
  Tensor x = Tensor::empty({N, 3, T, H, W});
  float* p = x.f32();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            *p++ = float(0.8 * std::sin(0.4 * (w + t) + 0.7 * c + n + phase) * std::cos(0.3 * h - 0.2 * t + phase));
  return x;
}

// ---- temporal chunks are exact ------------------------------------------------------------

// decode_chunked == decode for chunk sizes that divide the length and that do not, with
// the frames reaching the sink in order; a VaeDecodeStream fed irregular pieces too.
TEST_CASE(chunked_decode_equals_whole) {
  NoGradGuard ng;
  for (const char* model : {"tiny_a", "tiny_b", "tiny_c", "tiny_d"}) {
    Vae vae = Vae::load(fixture(std::string(model) + ".weights.safetensors"));
    const int64_t td = vae.config().temporal_down;
    Tensor z = Tensor::randn({2, vae.config().latent_channels, 7, 3, 4}, 51);
    Tensor whole = vae.decode(Var(z)).value();
    CHECK(whole.shape()[2] == 1 + td * 6);
    double worst = 0;
    for (int64_t chunk : {1, 2, 3, 4, 7, 10}) {
      std::vector<Tensor> parts;
      int64_t expect_first = 0, pushed = 0;
      bool in_order = true;
      vae.decode_chunked(z, chunk, [&](const Tensor& f, int64_t first) {
        in_order = in_order && first == expect_first;
        const int64_t latent = std::min<int64_t>(chunk, 7 - pushed);  // this chunk's latent frames
        in_order = in_order && f.shape()[2] == (pushed == 0 ? 1 + td * (latent - 1) : td * latent);
        pushed += latent;
        expect_first += f.shape()[2];
        parts.push_back(f.clone());
      });
      CHECK(in_order && expect_first == whole.shape()[2]);
      const double d = max_abs_diff(join_frames(parts), whole);
      const double collected = max_abs_diff(vae.decode_chunked(z, chunk), whole);
      worst = std::fmax(worst, std::fmax(d, collected));
    }
    VaeDecodeStream stream(vae);
    std::vector<Tensor> parts;
    int64_t t0 = 0;
    for (int64_t piece : {1, 3, 2, 1}) {
      parts.push_back(stream.push(z.slice(2, t0, t0 + piece).contiguous()));
      t0 += piece;
    }
    CHECK(stream.latent_frames() == 7 && stream.frames() == whole.shape()[2]);
    worst = std::fmax(worst, max_abs_diff(join_frames(parts), whole));
    std::printf("  %s (td %lld): decode_chunked (chunks 1, 2, 3, 4, 7, 10 of 7 latent frames) and pushes 1+3+2+1 "
                "vs decode: max |diff| %.3g (max |x| %.3g)\n",
                model, (long long)td, worst, max_abs(whole));
    CHECK(worst <= 1e-5 * max_abs(whole));
  }
}

// encode_chunked == encode for aligned and misaligned chunk sizes; a VaeEncodeStream fed
// arbitrary pieces returns each latent frame as soon as its last video frame arrived.
TEST_CASE(chunked_encode_equals_whole) {
  NoGradGuard ng;
  for (const char* model : {"tiny_a", "tiny_b", "tiny_c", "tiny_d"}) {
    Vae vae = Vae::load(fixture(std::string(model) + ".weights.safetensors"));
    const int64_t td = vae.config().temporal_down;
    const int64_t T = 1 + td * 6;
    Tensor x = smooth_video(2, T, 16, 16);
    VaePosterior whole = vae.encode(Var(x));
    double worst = 0;
    for (int64_t chunk : {1, 2, 3, 4, 5, 8, 100}) {
      VaePosterior p = vae.encode_chunked(x, chunk);
      worst = std::fmax(worst, max_abs_diff(p.mean.value(), whole.mean.value()));
      worst = std::fmax(worst, max_abs_diff(p.logvar.value(), whole.logvar.value()));
    }
    VaeEncodeStream stream(vae);
    std::vector<Tensor> mean, logvar;
    int64_t t0 = 0;
    bool prompt = true;
    for (int64_t piece : {1, 1, 1, 2, 5, 3, 1, 100}) {
      const int64_t t1 = std::min(T, t0 + piece);
      if (t1 <= t0) break;
      VaePosterior p = stream.push(x.slice(2, t0, t1).contiguous());
      if (p.mean.defined()) {
        mean.push_back(p.mean.value());
        logvar.push_back(p.logvar.value());
      }
      prompt = prompt && stream.latent_frames() == 1 + (t1 - 1) / td;  // every completed latent frame is out
      t0 = t1;
    }
    CHECK(prompt);
    worst = std::fmax(worst, max_abs_diff(join_frames(mean), whole.mean.value()));
    worst = std::fmax(worst, max_abs_diff(join_frames(logvar), whole.logvar.value()));
    std::printf("  %s (td %lld): encode_chunked (chunks 1, 2, 3, 4, 5, 8, 100 of %lld frames) and pushes "
                "1+1+1+2+5+3+1+... vs encode: max |diff| %.3g (max |mean| %.3g)\n",
                model, (long long)td, (long long)T, worst, max_abs(whole.mean.value()));
    CHECK(worst <= 1e-5 * max_abs(whole.mean.value()));
  }
}

// ---- spatial tiles ---------------------------------------------------------------------

// A model trained for a few dozen steps on smooth moving 32 x 32 patterns: its
// reconstructions mean something, so tiled and untiled outputs are compared against
// the video too. Built once, shared by the tiling tests.
static Vae& trained_tiny() {
  static Vae* vae = [] {
    auto* v = new Vae(tessera_test::tiny_vae_config(), 11);
    AdamW opt(v->parameters(), AdamWConfig{2e-3, 0.9, 0.999, 1e-8, 0.0});
    for (int step = 0; step < 60; ++step) {
      Tensor x = smooth_video(2, 5, 32, 32, 0.37 * step);
      VaeOutput out = v->forward(Var(x), 100, uint64_t(step) * 1000);
      Var rec = apply1("l1_loss", {out.recon, Var(x)});
      backward(apply1("add", {rec, apply1("scale", {out.kl}, {{"alpha", 1e-6}})}));
      opt.clip_grad_norm(1.0);
      opt.step();
    }
    return v;
  }();
  return *vae;
}

// Tiled decode against untiled on a 20 x 24 latent (80 x 96 video): PSNR between the
// two, and each one's PSNR against the video, for a few tile sizes; asserted for tiles
// of 16 with overlap 8 (2 x 2 tiles).
TEST_CASE(tiled_decode_matches_untiled) {
  const auto t0 = std::chrono::steady_clock::now();
  Vae& vae = trained_tiny();
  NoGradGuard ng;
  Tensor x = smooth_video(1, 9, 80, 96, 0.5);
  Tensor z = vae.encode(Var(x)).mean.value();
  CHECK(z.shape() == Shape({1, 4, 5, 20, 24}));
  Tensor untiled = vae.decode(Var(z)).value();
  const double p_untiled = psnr(untiled, x);
  std::printf("  decode [1, 4, 5, 20, 24] -> 80 x 96 x 9 frames; untiled vs the video %.2f dB\n", p_untiled);
  double between = 0, p_tiled = 0;
  for (const VaeTiling& tiling : {VaeTiling{8, 4}, VaeTiling{12, 6}, VaeTiling{16, 8}}) {
    VaeDecodeStream stream(vae, tiling);
    std::vector<Tensor> parts;
    for (int64_t t = 0; t < 5; t += 2) parts.push_back(stream.push(z.slice(2, t, std::min<int64_t>(5, t + 2)).contiguous()));
    Tensor tiled = join_frames(parts);
    between = psnr(tiled, untiled);
    p_tiled = psnr(tiled, x);
    std::printf("    tile %2lld overlap %lld (%2lld tiles): PSNR(tiled, untiled) %.2f dB; tiled vs the video %.2f dB "
                "(%+.2f dB)\n",
                (long long)tiling.tile, (long long)tiling.overlap, (long long)stream.tiles(), between, p_tiled,
                p_tiled - p_untiled);
  }
  CHECK(between >= 40);                          // the last one: tile 16, overlap 8
  CHECK(std::fabs(p_tiled - p_untiled) <= 0.5);
  // one tile covering the frame is the untiled decode, exactly
  const double one_tile = max_abs_diff(vae.decode_chunked(z, 2, VaeTiling{24, 4}), untiled);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("    one tile covering the frame vs untiled: max |diff| %.3g; %.0f ms (with 60 training steps)\n", one_tile, ms);
  CHECK(one_tile == 0);
}

// Tiled encode (tiles of 16 latent pixels = 64 video pixels, overlap 8): the latent mean
// against the untiled one, and the reconstructions (untiled decode) against the video.
TEST_CASE(tiled_encode_matches_untiled) {
  Vae& vae = trained_tiny();
  NoGradGuard ng;
  Tensor x = smooth_video(1, 9, 80, 96, 0.9);
  VaePosterior whole = vae.encode(Var(x));
  VaePosterior tiled = vae.encode_chunked(x, 4, VaeTiling{16, 8});
  // Latents are not in [-1, 1]: PSNR on the latent's own peak-to-peak range.
  const double range = 2 * max_abs(whole.mean.value());
  const double p = psnr(tiled.mean.value(), whole.mean.value()) + 20 * std::log10(range / 2);
  const double r_whole = psnr(vae.decode(whole.mean).value(), x), r_tiled = psnr(vae.decode(tiled.mean).value(), x);
  const double one = max_abs_diff(vae.encode_chunked(x, 4, VaeTiling{24, 4}).mean.value(), whole.mean.value());
  std::printf("  encode 80 x 96 in 2 x 2 tiles of 16 latent pixels (overlap 8): mean vs untiled %.2f dB (on its "
              "range %.3g); decoded vs the video: untiled latents %.2f dB, tiled latents %.2f dB (%+.2f dB); one tile = "
              "untiled: max |diff| %.3g\n",
              p, range, r_whole, r_tiled, r_tiled - r_whole, one);
  CHECK(p >= 35);
  CHECK(std::fabs(r_tiled - r_whole) <= 0.5);
  CHECK(one == 0);
}

// ---- rules --------------------------------------------------------------------------------

TEST_CASE(stream_rules) {
  Vae vae = Vae::load(fixture("tiny_a.weights.safetensors"));
  const auto IA = ErrorCode::InvalidArgument;
  const auto SM = ErrorCode::ShapeMismatch;
  Tensor z = Tensor::randn({1, 4, 3, 4, 4}, 1);
  CHECK(throws_with([&] { vae.decode_chunked(z, 0); }, IA, {"chunk_frames must be >= 1 latent frame, got 0"}));
  CHECK(throws_with([&] { vae.decode_chunked(z, 2, VaeTiling{-1, 0}); }, IA, {"tile must be >= 0", "got -1"}));
  CHECK(throws_with([&] { vae.decode_chunked(z, 2, VaeTiling{4, 4}); }, IA,
                    {"overlap must be between 0 and tile - 1 = 3", "got 4", "(tile 4)"}));
  CHECK(throws_with([&] { vae.decode_chunked(Tensor::randn({1, 3, 3, 4, 4}, 1), 2); }, SM, {"z has 3 channels"}));
  CHECK(throws_with([&] { vae.encode_chunked(Tensor::zeros({1, 3, 4, 16, 16}), 2); }, SM,
                    {"Vae.encode_chunked", "T = 4 frames"}));
  CHECK(throws_with([&] { vae.encode_chunked(Tensor::zeros({1, 3, 5, 16, 16}), 0); }, IA,
                    {"chunk_frames must be >= 1 video frame, got 0"}));
  VaeDecodeStream d(vae);
  d.push(z);
  CHECK(throws_with([&] { d.push(Tensor::randn({1, 4, 1, 4, 8}, 1)); }, SM,
                    {"must keep N, h and w of the first chunk [1, 4, 3, 4, 4]"}));
  VaeEncodeStream e(vae);
  CHECK(throws_with([&] { e.push(Tensor::zeros({1, 3, 2, 18, 16})); }, SM, {"multiples of spatial_down = 4"}));
  e.push(Tensor::zeros({1, 3, 2, 16, 16}));
  CHECK(throws_with([&] { e.push(Tensor::zeros({2, 3, 2, 16, 16})); }, SM, {"must keep N, H and W"}));
  CHECK(tape_size() == 0);  // inference records nothing
}

// ---- memory -------------------------------------------------------------------------------

// The memory model: 256 x 256 video, sd 8, td 4 (latent [1, 4, t, 32, 32]); small
// channels so compute stays cheap (the numbers are about memory, not quality).
static VaeConfig memory_config() {
  VaeConfig c;
  c.latent_channels = 4;
  c.base_channels = 4;
  c.channel_mult = {1, 2, 2, 4};
  c.num_res_blocks = 1;
  c.spatial_down = 8;
  c.temporal_down = 4;
  c.norm_groups = 4;
  return c;
}

static long status_kb(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  const size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0 && line[n] == ':') v = std::atol(line + n + 1);
  std::fclose(f);
  return v;
}

// Child process: decode t latent frames and print the peak resident set (VmHWM of this
// fresh process, which a forked-and-exec'd child does not inherit, unlike ru_maxrss).
// mode "stream": decode_chunked, chunks of `chunk` latent frames, tiles of `tile`
// (default 18: 2 x 2 tiles of the 32 x 32 latent, overlap 4), frames dropped by the
// sink; "whole": Vae::decode. By hand:
//   test_vae_stream --memory-child <latent frames> stream|whole [chunk tile overlap]
static int memory_child(int64_t t, const std::string& mode, int64_t chunk = 2, int64_t tile = 18, int64_t overlap = 4) {
  if (const char* live = std::getenv("TESSERA_MEMORY_LIVE"); live && *live == '1') {
    // Every block of 64 KiB or more mmapped and unmapped when freed (no dynamic threshold,
    // no heap fragmentation); with TESSERA_CPU_CACHE_MB=0 the peak RSS is then the peak of
    // live tensor memory.
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  }
  Vae vae(memory_config(), 7);
  Tensor z = Tensor::randn({1, 4, t, 32, 32}, 99);
  const long base = status_kb("VmRSS");
  const auto t0 = std::chrono::steady_clock::now();
  double checksum = 0;
  int64_t frames = 0;
  if (mode == "whole") {
    NoGradGuard ng;
    Tensor x = vae.decode(Var(z)).value();
    frames = x.shape()[2];
    checksum = x.f32()[0];
  } else {
    vae.decode_chunked(z, chunk, VaeTiling{tile, overlap}, [&](const Tensor& f, int64_t) {
      frames += f.shape()[2];
      checksum += f.f32()[0];
    });
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("peak_kb %ld base_kb %ld frames %lld seconds %.2f cached_kb %zu checksum %g\n", status_kb("VmHWM"), base,
              (long long)frames, s, cpu_cached_bytes() / 1024, checksum);
  return 0;
}

struct ChildResult {
  long peak_kb = -1, base_kb = -1;
  long long frames = -1;
  double seconds = 0;
};

static ChildResult run_child(int64_t t, const char* mode) {
  ChildResult r;
  const std::string cmd = "'" + g_self + "' --memory-child " + std::to_string(t) + " " + mode;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    size_t cached = 0;
    double checksum = 0;
    if (std::sscanf(line, "peak_kb %ld base_kb %ld frames %lld seconds %lf cached_kb %zu checksum %lg", &r.peak_kb,
                    &r.base_kb, &r.frames, &r.seconds, &cached, &checksum) >= 4)
      break;
  }
  pclose(p);
  return r;
}

// Done-when of the streaming spec: a 257-frame 256x256 decode (chunked + tiled) peaks
// below 1.5x the memory of a 17-frame one. With the default CPU allocator (its cache of
// freed blocks included); TESSERA_CPU_CACHE_MB=0 TESSERA_MEMORY_LIVE=1 measures the
// live tensors alone (slower: every block is mmapped).
TEST_CASE(peak_memory_does_not_grow_with_length) {
  const char* live_env = std::getenv("TESSERA_MEMORY_LIVE");
  const bool live = live_env && *live_env == '1';
  if (const char* skip = std::getenv("TESSERA_SKIP_MEMORY_TEST"); skip && *skip == '1') {
    std::printf("  skipped (TESSERA_SKIP_MEMORY_TEST=1)\n");
    return;
  }
  ChildResult shortv = run_child(5, "stream");    // 17 frames
  ChildResult longv = run_child(65, "stream");    // 257 frames
  ChildResult whole = run_child(5, "whole");      // 17 frames, Vae::decode, for scale
  CHECK(shortv.frames == 17 && longv.frames == 257 && whole.frames == 17);
  const double ratio = double(longv.peak_kb) / double(shortv.peak_kb);
  std::printf("  peak RSS (VmHWM%s), 256x256, base_channels 4, chunks of 2 latent frames, 2 x 2 tiles of 18 latent "
              "pixels (overlap 4):\n"
              "    17 frames: %.1f MB (%.1f MB before decoding; %.2f s)\n"
              "    257 frames: %.1f MB (%.1f MB before decoding; %.2f s)\n"
              "    ratio 257 / 17 = %.3f\n"
              "    for scale, Vae::decode of the 17 frames at once: %.1f MB (%.2f s)\n",
              live ? "; live tensors: allocator cache off, mmap threshold 64 KiB" : "; default allocator",
              shortv.peak_kb / 1024.0, shortv.base_kb / 1024.0, shortv.seconds, longv.peak_kb / 1024.0,
              longv.base_kb / 1024.0, longv.seconds, ratio, whole.peak_kb / 1024.0, whole.seconds);
  CHECK(shortv.peak_kb > 0 && longv.peak_kb > 0);
  CHECK(ratio < 1.5);
}

int main(int argc, char** argv) {
  g_self = "/proc/self/exe";
  {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) g_self.assign(buf, size_t(n));
  }
  if (argc >= 7 && std::strcmp(argv[1], "--memory-child") == 0)
    return memory_child(std::atoll(argv[2]), argv[3], std::atoll(argv[4]), std::atoll(argv[5]), std::atoll(argv[6]));
  if (argc >= 4 && std::strcmp(argv[1], "--memory-child") == 0) return memory_child(std::atoll(argv[2]), argv[3]);
  tessera_test::set_vae_fixture_dir(argc, argv);
  const auto t0 = std::chrono::steady_clock::now();
  int rc = tessera_test::run_all();
  std::printf("total %.2f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return rc;
}
