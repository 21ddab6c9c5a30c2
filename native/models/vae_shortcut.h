// Fitting the VAE's linear shortcut (VaeConfig::linear_shortcut, docs/VAE.md) to data: the
// principal components of the latent cells.
//
// A latent cell is what one latent value position codes: frame 0's C x s x s pixels (D0 =
// C s s values), or a later group of td frames' C x td x s x s (D1 = C td s s), flattened
// (c, t, y, x). For each of the two cell shapes the fit accumulates the mean mu and the
// covariance S = E[(v - mu)(v - mu)^T] over every cell of the clips it is given, and
// apply() sets, with Q = the top k = min(L, D) eigenvectors of S as rows (k x D), their
// eigenvalues e_l and Sd = diag(sd_l), sd_l = sqrt(max(e_l, 1e-6 e_0)):
//   encoder.shortcut.<part>.weight = Sd^-1 Q (rows k..L-1 zero),  .bias = -Sd^-1 Q mu
//   decoder.shortcut.<part>.weight = Sd Q,                         .bias = mu
// so that the shortcut alone is the best linear code of k numbers per cell (PCA) with
// whitened latents (each channel of variance 1 over the fitted cells; W_dec^T W_enc =
// Q^T Q, the same projection as without the scaling), and
// zeroes the network's own contribution (the encoder conv_out's mean rows and the
// decoder's conv_out), so that the model starts as exactly that code. A part without
// cells (only images seen: no later groups) keeps its weights.
//
// Eigenvectors: orthogonal iteration on S in float64 (Z = S Q, Gram-Schmidt) until the
// captured variance settles, then Rayleigh-Ritz (Jacobi on the k x k Q S Q^T) to order
// them by variance; each is signed so that its largest entry is positive.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "models/vae.h"

namespace tessera::models {

struct LinearShortcutFitResult {
  int64_t cells_first = 0, cells_rest = 0;  // cells the fit saw, per shape
  // Mean squared error per value of the fitted linear code on those cells, and its PSNR
  // (10 log10(4 / mse), data in [-1, 1]), pooled over both shapes.
  double mse = 0, psnr = 0;
};

class LinearShortcutFit {
 public:
  // Throws InvalidArgument unless config.linear_shortcut.
  explicit LinearShortcutFit(const VaeConfig& config);
  // x [N, in_channels, T, H, W] in [-1, 1] (the model's input rules: T = 1 + td k, H and
  // W multiples of spatial_down); its cells join the statistics.
  void add(const Tensor& x);
  int64_t cells_first() const { return first_.n; }
  int64_t cells_rest() const { return rest_.n; }
  // Sets the model's shortcut and zeroes its network outputs (above). Throws when no cell
  // has been added or the model's config differs from the fit's.
  LinearShortcutFitResult apply(Vae& vae) const;

 private:
  struct Moments {
    int64_t dim = 0, n = 0;
    std::vector<double> sum;    // [D]
    std::vector<double> outer;  // [D, D], sum of v v^T
  };
  static void add_rows(Moments& m, const Tensor& rows);  // rows [M, D]
  VaeConfig config_;
  Moments first_, rest_;
};

}  // namespace tessera::models
