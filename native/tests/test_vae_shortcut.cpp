// The VAE's linear shortcut (VaeConfig::linear_shortcut, models/vae_shortcut.h): at its
// initial weights it is exactly the mean shortcut; the optimizer never changes it;
// LinearShortcutFit recovers a low-rank cell code exactly (the model then reconstructs
// such clips to float rounding with the network's outputs zeroed), on noisy data leaves
// the residual variance PCA predicts and gives latents of variance 1; bad calls are
// refused with clear errors.
// Its forward and backward against PyTorch are tiny_d in test_vae, its streaming in
// test_vae_stream.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "models/vae.h"
#include "models/vae_shortcut.h"
#include "models/vae_trainer.h"
#include "tests/check.h"
#include "tests/vae_test_util.h"

using namespace tessera;
using namespace tessera::models;
using tessera_test::max_abs;
using tessera_test::max_abs_diff;
using tessera_test::throws_with;

// x4 spatial, x2 temporal: cells of 3 x 4 x 4 = 48 values (frame 0) and 3 x 2 x 4 x 4 = 96.
static VaeConfig shortcut_config(bool linear) {
  VaeConfig c = tessera_test::tiny_vae_config();
  c.mean_shortcut = !linear;
  c.linear_shortcut = linear;
  return c;
}

static const Tensor& param(const Vae& vae, const std::string& name) {
  for (auto& kv : vae.named_parameters())
    if (kv.first == name) return kv.second.value();
  throw Error(ErrorCode::Internal, "no parameter " + name);
}

// A clip batch [N, 3, T, H, W] whose every latent cell is cell(part, row index) (D values
// in the order c, t, y, x; part 0 = frame 0's cells, 1 = the later groups').
template <class CellFn>
static Tensor clips_from_cells(int64_t N, int64_t T, int64_t H, int64_t W, int64_t td, int64_t s, CellFn cell) {
  Tensor x = Tensor::zeros({N, 3, T, H, W});
  float* p = x.f32();
  const int64_t h = H / s, w = W / s;
  int64_t rows[2] = {0, 0};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < 1 + (T - 1) / td; ++g)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          const int part = g == 0 ? 0 : 1, t = part ? td : 1;
          const std::vector<double> v = cell(part, rows[part]++);
          for (int64_t c = 0; c < 3; ++c)
            for (int64_t f = 0; f < t; ++f)
              for (int64_t y = 0; y < s; ++y)
                for (int64_t xx = 0; xx < s; ++xx) {
                  const int64_t frame = part ? 1 + (g - 1) * td + f : 0;
                  p[(((n * 3 + c) * T + frame) * H + i * s + y) * W + j * s + xx] =
                      float(v[size_t(((c * t + f) * s + y) * s + xx)]);
                }
        }
  return x;
}

// Deterministic pseudo-random numbers in [-1, 1) for the tests' data.
struct Lcg {
  uint64_t state;
  double next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return double(state >> 11) / double(1ULL << 53) * 2.0 - 1.0;
  }
};

TEST_CASE(initial_linear_shortcut_is_the_mean_shortcut) {
  Vae mean(shortcut_config(false), 7), linear(shortcut_config(true), 7);
  CHECK(linear.num_parameters() > mean.num_parameters());
  Tensor x = Tensor::rand({2, 3, 5, 8, 12}, 3);
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = 2 * p[i] - 1;
  const Tensor eps = Tensor::randn({2, 4, 3, 2, 3}, 4);
  NoGradGuard ng;
  VaeOutput a = mean.forward(Var(x), Var(eps)), b = linear.forward(Var(x), Var(eps));
  const double dm = max_abs_diff(a.mean.value(), b.mean.value()), dr = max_abs_diff(a.recon.value(), b.recon.value());
  std::printf("  mean vs linear shortcut at init: max |diff| mean %.3g (max %.3g), recon %.3g (max %.3g)\n", dm,
              max_abs(a.mean.value()), dr, max_abs(a.recon.value()));
  CHECK(dm <= 1e-5 * max_abs(a.mean.value()) && dr <= 1e-5 * max_abs(a.recon.value()));
  CHECK(max_abs_diff(a.logvar.value(), b.logvar.value()) <= 1e-5 * max_abs(a.logvar.value()));
}

TEST_CASE(optimizer_never_changes_the_shortcut) {
  VaeTrainConfig tc;
  tc.lr = 1e-2;
  tc.weight_decay = 0.1;
  VaeTrainer trainer(shortcut_config(true), tc, 5);
  const std::vector<std::string> names = {"encoder.shortcut.first.weight", "encoder.shortcut.rest.bias",
                                          "decoder.shortcut.rest.weight", "decoder.shortcut.first.bias"};
  std::vector<Tensor> before;
  for (auto& n : names) before.push_back(param(trainer.model(), n).clone());
  const Tensor conv_before = param(trainer.model(), "decoder.conv_out.weight").clone();
  Tensor x = Tensor::rand({1, 3, 5, 8, 8}, 9);
  for (int i = 0; i < 2; ++i) trainer.step(x);
  for (size_t i = 0; i < names.size(); ++i) CHECK(max_abs_diff(param(trainer.model(), names[i]), before[i]) == 0);
  CHECK(max_abs_diff(param(trainer.model(), "decoder.conv_out.weight"), conv_before) > 0);  // the network trains
}

TEST_CASE(fit_recovers_a_low_rank_code) {
  // Every cell is mu + sum of 3 fixed directions (rank 3 < L = 4) with random coefficients.
  const int64_t s = 4, td = 2, D[2] = {48, 96};
  Lcg rng{11};
  std::vector<std::vector<double>> mu(2), dirs[2];
  for (int part = 0; part < 2; ++part) {
    for (int64_t d = 0; d < D[part]; ++d) mu[size_t(part)].push_back(0.2 * rng.next());
    for (int k = 0; k < 3; ++k) {
      std::vector<double> u;
      for (int64_t d = 0; d < D[part]; ++d) u.push_back(rng.next());
      dirs[part].push_back(u);
    }
  }
  auto cell = [&](int part, int64_t) {
    std::vector<double> v = mu[size_t(part)];
    for (int k = 0; k < 3; ++k) {
      const double a = 0.15 * rng.next();
      for (size_t d = 0; d < v.size(); ++d) v[d] += a * dirs[part][size_t(k)][d];
    }
    return v;
  };
  const Tensor video = clips_from_cells(8, 5, 8, 12, td, s, cell);  // 48 + 96 cells
  const Tensor images = clips_from_cells(4, 1, 8, 8, td, s, cell);  // 16 more frame-0 cells
  Vae vae(shortcut_config(true), 2);
  LinearShortcutFit fit(vae.config());
  fit.add(video);
  fit.add(images);
  CHECK(fit.cells_first() == 8 * 6 + 4 * 4 && fit.cells_rest() == 8 * 2 * 6);
  const LinearShortcutFitResult r = fit.apply(vae);
  std::printf("  rank-3 cells: %lld + %lld cells, linear code mse %.3g (PSNR %.1f dB)\n", (long long)r.cells_first,
              (long long)r.cells_rest, r.mse, r.psnr);
  // The moments are float32 Gram matrices summed in float64, and the covariance is
  // E[v v^T] - mu mu^T: rounding leaves ~1e-10 of residual (PSNR ~100 dB) where exact is 0.
  CHECK(r.mse < 1e-8 && r.psnr > 85);
  // The encoder's and the decoder's rows are biorthogonal (W_dec W_enc^T = I: the
  // eigenvectors scaled by 1/sd and by sd); the 4th direction has no variance, so its sd is
  // the floor, 1e-3 of the top one's.
  for (const char* part : {"first", "rest"}) {
    const Tensor& we = param(vae, std::string("encoder.shortcut.") + part + ".weight");
    const Tensor& wd = param(vae, std::string("decoder.shortcut.") + part + ".weight");
    const int64_t L = we.shape()[0], Dn = we.numel() / L;
    double worst = 0, row_sd[2] = {0, 0};
    for (int64_t a = 0; a < L; ++a)
      for (int64_t b = 0; b < L; ++b) {
        double dot = 0;
        for (int64_t d = 0; d < Dn; ++d) dot += double(wd.f32()[a * Dn + d]) * we.f32()[b * Dn + d];
        worst = std::fmax(worst, std::fabs(dot - (a == b ? 1.0 : 0.0)));
      }
    for (int64_t a : {int64_t(0), L - 1}) {  // |dec row| = sd: the top direction's and the floored one's
      double sq = 0;
      for (int64_t d = 0; d < Dn; ++d) sq += double(wd.f32()[a * Dn + d]) * wd.f32()[a * Dn + d];
      row_sd[a == 0 ? 0 : 1] = std::sqrt(sq);
    }
    std::printf("  %s: max |W_dec W_enc^T - I| %.3g, sd of the top direction %.4g, of the 4th %.4g\n", part, worst,
                row_sd[0], row_sd[1]);
    CHECK(worst < 1e-4);
    CHECK(std::fabs(row_sd[1] / row_sd[0] - 1e-3) < 1e-6);
  }
  // The network's outputs are zeroed, so the model is the linear code: it reconstructs the
  // rank-3 clips to float rounding.
  NoGradGuard ng;
  const Tensor recon = vae.decode(vae.encode(Var(video)).mean).value();
  const double err = max_abs_diff(recon, video);
  std::printf("  decode(encode(x).mean) vs x: max |diff| %.3g (max |x| %.3g)\n", err, max_abs(video));
  CHECK(err < 1e-4);
}

TEST_CASE(fit_on_noisy_cells_leaves_the_pca_residual) {
  // Rank 2 plus isotropic noise of std sigma on every value: the best 4-dimensional code
  // keeps the 2 directions and 2 noise dimensions, so the residual per value is
  // sigma^2 (D - 4) / D, up to sampling (thousands of cells; 5% allowed).
  const int64_t s = 4, td = 2, D[2] = {48, 96};
  const double sigma = 0.02;
  Lcg rng{23};
  std::vector<std::vector<double>> dirs[2];
  for (int part = 0; part < 2; ++part)
    for (int k = 0; k < 2; ++k) {
      std::vector<double> u;
      for (int64_t d = 0; d < D[part]; ++d) u.push_back(rng.next());
      dirs[part].push_back(u);
    }
  auto cell = [&](int part, int64_t) {
    std::vector<double> v(size_t(D[part]), 0.0);
    for (int k = 0; k < 2; ++k) {
      const double a = 0.2 * rng.next();
      for (size_t d = 0; d < v.size(); ++d) v[d] += a * dirs[part][size_t(k)][d];
    }
    for (double& e : v) {  // Gaussian noise by Box-Muller on two uniforms
      const double u1 = 0.5 * (rng.next() + 1.0) + 1e-12, u2 = 0.5 * (rng.next() + 1.0);
      e += sigma * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
    }
    return v;
  };
  Vae vae(shortcut_config(true), 2);
  LinearShortcutFit fit(vae.config());
  std::vector<Tensor> batches;
  for (int b = 0; b < 6; ++b) {
    batches.push_back(clips_from_cells(50, 5, 16, 16, td, s, cell));
    fit.add(batches.back());
  }
  const LinearShortcutFitResult r = fit.apply(vae);
  const double want = sigma * sigma * (double(r.cells_first) * (48 - 4) + double(r.cells_rest) * (96 - 4)) /
                      (double(r.cells_first) * 48 + double(r.cells_rest) * 96);
  std::printf("  rank 2 + noise (sigma %.2f): %lld + %lld cells, mse %.4g, PCA predicts %.4g\n", sigma,
              (long long)r.cells_first, (long long)r.cells_rest, r.mse, want);
  CHECK(r.cells_first == 6 * 50 * 16 && r.cells_rest == 6 * 50 * 2 * 16);
  CHECK(std::fabs(r.mse - want) < 0.05 * want);
  // Whitened: over the cells it was fitted to, every latent channel of the later groups
  // (the 2 directions and the 2 noise dimensions alike) has variance 1 (float rounding;
  // on new clips the noise dimensions come out lower, as the fit picks the directions of
  // the sample's largest noise).
  NoGradGuard ng;
  const int64_t L = shortcut_config(true).latent_channels;
  std::vector<double> sum(size_t(L), 0.0), sq(size_t(L), 0.0);
  double n = 0;
  for (const Tensor& x : batches) {
    const Tensor z = vae.encode(Var(x)).mean.value().contiguous();
    const int64_t t = z.shape()[2], hw = z.shape()[3] * z.shape()[4];
    for (int64_t b = 0; b < z.shape()[0]; ++b)
      for (int64_t f = 1; f < t; ++f)
        for (int64_t i = 0; i < hw; ++i)
          for (int64_t l = 0; l < L; ++l) {
            const double v = z.f32()[((b * L + l) * t + f) * hw + i];
            sum[size_t(l)] += v, sq[size_t(l)] += v * v;
          }
    n += double(z.shape()[0] * (t - 1) * hw);
  }
  for (int64_t l = 0; l < L; ++l) {
    const double mean = sum[size_t(l)] / n, var = sq[size_t(l)] / n - mean * mean;
    std::printf("  latent channel %lld: mean %.2g, variance %.6f over %.0f cells\n", (long long)l, mean, var, n);
    CHECK(std::fabs(mean) < 1e-4 && std::fabs(var - 1.0) < 1e-4);
  }
}

TEST_CASE(fit_rules) {
  const auto IA = ErrorCode::InvalidArgument;
  CHECK(throws_with([] { LinearShortcutFit f(shortcut_config(false)); }, IA, {"has no linear shortcut"}));
  Vae vae(shortcut_config(true), 1);
  LinearShortcutFit fit(vae.config());
  CHECK(throws_with([&] { fit.apply(vae); }, IA, {"no clips were added"}));
  CHECK(throws_with([&] { fit.add(Tensor::zeros({1, 3, 4, 8, 8})); }, ErrorCode::ShapeMismatch,
                    {"T = 1 + 2 k frames", "multiples of 4", "f32[1, 3, 4, 8, 8]"}));
  CHECK(throws_with([&] { fit.add(Tensor::zeros({1, 1, 5, 8, 8})); }, ErrorCode::ShapeMismatch, {"[N, 3, T, H, W]"}));
  fit.add(Tensor::rand({1, 3, 5, 8, 8}, 1));
  VaeConfig other = shortcut_config(true);
  other.latent_channels = 6;
  Vae wrong(other, 1);
  CHECK(throws_with([&] { fit.apply(wrong); }, IA, {"is not the fit's"}));
}

int main(int argc, char** argv) {
  tessera_test::set_vae_fixture_dir(argc, argv);
  return tessera_test::run_all();
}
