// Fitting the linear shortcut to data (models/vae_shortcut.h): cell moments, then the top
// eigenvectors of each cell shape's covariance.
#include "models/vae_shortcut.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/op.h"

namespace tessera::models {

namespace {

// The cells of x [N, C, g t, H, W] (g groups of t frames) as rows [N g h w, C t s s], each
// row one cell's values in the order (c, t, y, x): the layout of the shortcut's weights.
Tensor cell_rows(const Tensor& x, int64_t g, int64_t t, int64_t s) {
  const Shape& sh = x.shape();
  const int64_t N = sh[0], C = sh[1], h = sh[3] / s, w = sh[4] / s;
  return x.contiguous()
      .reshape({N, C, g, t, h, s, w, s})
      .permute({0, 2, 4, 6, 1, 3, 5, 7})
      .contiguous()
      .reshape({N * g * h * w, C * t * s * s});
}

// Symmetric eigen decomposition of a small k x k matrix a (row-major) by cyclic Jacobi
// rotations; returns the eigenvalues, and the eigenvectors as the columns of v.
std::vector<double> jacobi_eigen(std::vector<double> a, int64_t k, std::vector<double>& v) {
  v.assign(size_t(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i) v[size_t(i * k + i)] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, diag = 0;
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) (i == j ? diag : off) += a[size_t(i * k + j)] * a[size_t(i * k + j)];
    if (off <= 1e-30 * std::max(diag, 1e-300)) break;
    for (int64_t p = 0; p < k; ++p)
      for (int64_t q = p + 1; q < k; ++q) {
        const double apq = a[size_t(p * k + q)];
        if (apq == 0) continue;
        // Rotation angle that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.5.1).
        const double tau = (a[size_t(q * k + q)] - a[size_t(p * k + p)]) / (2 * apq);
        const double tn = (tau >= 0 ? 1.0 : -1.0) / (std::fabs(tau) + std::sqrt(1 + tau * tau));
        const double c = 1 / std::sqrt(1 + tn * tn), sn = tn * c;
        for (int64_t r = 0; r < k; ++r) {  // a <- a J (columns p, q)
          const double arp = a[size_t(r * k + p)], arq = a[size_t(r * k + q)];
          a[size_t(r * k + p)] = c * arp - sn * arq;
          a[size_t(r * k + q)] = sn * arp + c * arq;
        }
        for (int64_t r = 0; r < k; ++r) {  // a <- J^T a (rows p, q)
          const double apr = a[size_t(p * k + r)], aqr = a[size_t(q * k + r)];
          a[size_t(p * k + r)] = c * apr - sn * aqr;
          a[size_t(q * k + r)] = sn * apr + c * aqr;
        }
        for (int64_t r = 0; r < k; ++r) {  // v <- v J
          const double vrp = v[size_t(r * k + p)], vrq = v[size_t(r * k + q)];
          v[size_t(r * k + p)] = c * vrp - sn * vrq;
          v[size_t(r * k + q)] = sn * vrp + c * vrq;
        }
      }
  }
  std::vector<double> eig(size_t(k), 0.0);
  for (int64_t i = 0; i < k; ++i) eig[size_t(i)] = a[size_t(i * k + i)];
  return eig;
}

// Gram-Schmidt (twice, for float64 orthogonality) on the k rows of q [k, D]; a row that
// vanishes is replaced by a unit vector orthogonal to the ones before it.
void orthonormalize_rows(std::vector<double>& q, int64_t k, int64_t D) {
  for (int64_t i = 0; i < k; ++i) {
    double* qi = &q[size_t(i * D)];
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t j = 0; j < i; ++j) {
        const double* qj = &q[size_t(j * D)];
        double dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += qi[d] * qj[d];
        for (int64_t d = 0; d < D; ++d) qi[d] -= dot * qj[d];
      }
    double norm = 0;
    for (int64_t d = 0; d < D; ++d) norm += qi[d] * qi[d];
    norm = std::sqrt(norm);
    if (norm < 1e-12) {  // rank-deficient data: any direction orthogonal to the rows above
      for (int64_t e = 0; e < D && norm < 1e-6; ++e) {
        std::fill(qi, qi + D, 0.0);
        qi[e] = 1;
        for (int64_t j = 0; j < i; ++j) {
          const double* qj = &q[size_t(j * D)];
          const double dot = qj[e];
          for (int64_t d = 0; d < D; ++d) qi[d] -= dot * qj[d];
        }
        norm = 0;
        for (int64_t d = 0; d < D; ++d) norm += qi[d] * qi[d];
        norm = std::sqrt(norm);
      }
    }
    for (int64_t d = 0; d < D; ++d) qi[d] /= norm;
  }
}

// The top k eigenvectors (rows of the result, [k, D], by decreasing eigenvalue) of the
// symmetric positive semi-definite cov [D, D], and their eigenvalues.
std::vector<double> top_eigenvectors(const std::vector<double>& cov, int64_t D, int64_t k, std::vector<double>& eig) {
  std::vector<double> q(size_t(k * D)), z(size_t(k * D));
  const Tensor start = Tensor::randn({k, D}, 0x5eed);  // a fixed start: the same fit everywhere
  for (int64_t i = 0; i < k * D; ++i) q[size_t(i)] = start.f32()[i];
  orthonormalize_rows(q, k, D);
  auto multiply = [&](const std::vector<double>& in, std::vector<double>& out) {  // out_i = cov in_i
    for (int64_t i = 0; i < k; ++i)
      for (int64_t r = 0; r < D; ++r) {
        const double* row = &cov[size_t(r * D)];
        const double* x = &in[size_t(i * D)];
        double acc = 0;
        for (int64_t d = 0; d < D; ++d) acc += row[d] * x[d];
        out[size_t(i * D + r)] = acc;
      }
  };
  double captured = -1;
  for (int iter = 0; iter < 2000; ++iter) {
    multiply(q, z);
    double now = 0;  // sum of the Rayleigh quotients: the variance the rows capture
    for (int64_t i = 0; i < k * D; ++i) now += q[size_t(i)] * z[size_t(i)];
    q.swap(z);
    orthonormalize_rows(q, k, D);
    if (iter >= 20 && std::fabs(now - captured) <= 1e-12 * std::max(now, 1e-300)) break;
    captured = now;
  }
  // Rayleigh-Ritz: the k x k matrix q cov q^T, diagonalized, orders the basis by variance.
  multiply(q, z);
  std::vector<double> small(size_t(k * k)), v;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < D; ++d) dot += q[size_t(i * D + d)] * z[size_t(j * D + d)];
      small[size_t(i * k + j)] = dot;
    }
  for (int64_t i = 0; i < k; ++i)  // symmetrize the rounding
    for (int64_t j = i + 1; j < k; ++j)
      small[size_t(i * k + j)] = small[size_t(j * k + i)] = 0.5 * (small[size_t(i * k + j)] + small[size_t(j * k + i)]);
  const std::vector<double> values = jacobi_eigen(small, k, v);
  std::vector<int64_t> order(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) order[size_t(i)] = i;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return values[size_t(a)] > values[size_t(b)]; });
  std::vector<double> out(size_t(k * D), 0.0);
  eig.assign(size_t(k), 0.0);
  for (int64_t o = 0; o < k; ++o) {
    const int64_t col = order[size_t(o)];
    eig[size_t(o)] = values[size_t(col)];
    double* row = &out[size_t(o * D)];
    for (int64_t i = 0; i < k; ++i) {
      const double c = v[size_t(i * k + col)];
      for (int64_t d = 0; d < D; ++d) row[d] += c * q[size_t(i * D + d)];
    }
    int64_t big = 0;
    for (int64_t d = 1; d < D; ++d) big = std::fabs(row[d]) > std::fabs(row[big]) ? d : big;
    if (row[big] < 0)
      for (int64_t d = 0; d < D; ++d) row[d] = -row[d];
  }
  return out;
}

Tensor to_f32(const std::vector<double>& v, const Shape& shape) {
  Tensor t = Tensor::zeros(shape);
  float* p = t.f32();
  for (size_t i = 0; i < v.size(); ++i) p[i] = float(v[i]);
  return t;
}

}  // namespace

LinearShortcutFit::LinearShortcutFit(const VaeConfig& config) : config_(config) {
  config_.validate();
  TS_CHECK_ARG(config_.linear_shortcut,
               "LinearShortcutFit: the model has no linear shortcut (its config's linear_shortcut is false)");
  const int64_t C = config_.in_channels, s = config_.spatial_down;
  first_.dim = C * s * s;
  rest_.dim = C * config_.temporal_down * s * s;
  for (Moments* m : {&first_, &rest_}) {
    m->sum.assign(size_t(m->dim), 0.0);
    m->outer.assign(size_t(m->dim * m->dim), 0.0);
  }
}

void LinearShortcutFit::add_rows(Moments& m, const Tensor& rows) {
  const int64_t M = rows.shape()[0], D = m.dim;
  const float* p = rows.f32();
  for (int64_t r = 0; r < M; ++r)
    for (int64_t d = 0; d < D; ++d) m.sum[size_t(d)] += p[r * D + d];
  // sum of v v^T as rows^T rows: the op table's matmul (vectorized, threaded) in float32
  // per call, accumulated in float64 across calls.
  Var rv(rows, false);
  const Tensor gram = apply1("matmul", {rv, rv}, {{"transA", true}}).value().contiguous();
  const float* g = gram.f32();
  for (int64_t i = 0; i < D * D; ++i) m.outer[size_t(i)] += g[i];
  m.n += M;
}

void LinearShortcutFit::add(const Tensor& x_in) {
  const Shape& sh = x_in.shape();
  TS_CHECK_SHAPE(sh.size() == 5 && sh[1] == config_.in_channels, "LinearShortcutFit.add: clips must be [N, ",
                 config_.in_channels, ", T, H, W], got ", x_in.describe());
  const int64_t td = config_.temporal_down, s = config_.spatial_down, T = sh[2];
  TS_CHECK_SHAPE((T - 1) % td == 0 && sh[3] % s == 0 && sh[4] % s == 0,
                 "LinearShortcutFit.add: clips must have T = 1 + ", td, " k frames and H, W multiples of ", s,
                 ", got ", x_in.describe());
  const Tensor x = x_in.to(DType::F32).contiguous();
  add_rows(first_, cell_rows(x.slice(2, 0, 1), 1, 1, s));
  if (T > 1) add_rows(rest_, cell_rows(x.slice(2, 1, T), (T - 1) / td, td, s));
}

LinearShortcutFitResult LinearShortcutFit::apply(Vae& vae) const {
  TS_CHECK_ARG(vae.config().to_json() == config_.to_json(), "LinearShortcutFit.apply: the model's config ",
               vae.config().to_json(), " is not the fit's ", config_.to_json());
  TS_CHECK_ARG(first_.n + rest_.n > 0, "LinearShortcutFit.apply: no clips were added");
  const int64_t L = config_.latent_channels, C = config_.in_channels, s = config_.spatial_down;
  std::map<std::string, Tensor> set;
  LinearShortcutFitResult res;
  res.cells_first = first_.n;
  res.cells_rest = rest_.n;
  double squared_error = 0, values = 0;
  for (const auto& part : {std::make_pair(&first_, std::string("first")), std::make_pair(&rest_, std::string("rest"))}) {
    const Moments& m = *part.first;
    if (m.n == 0) continue;
    const int64_t D = m.dim, k = std::min(L, D), t = D / (C * s * s);
    std::vector<double> mu(static_cast<size_t>(D)), cov(static_cast<size_t>(D * D));
    for (int64_t d = 0; d < D; ++d) mu[size_t(d)] = m.sum[size_t(d)] / double(m.n);
    for (int64_t i = 0; i < D; ++i)
      for (int64_t j = 0; j < D; ++j)
        cov[size_t(i * D + j)] = m.outer[size_t(i * D + j)] / double(m.n) - mu[size_t(i)] * mu[size_t(j)];
    std::vector<double> eig;
    const std::vector<double> q = top_eigenvectors(cov, D, k, eig);
    double total = 0, kept = 0;
    for (int64_t d = 0; d < D; ++d) total += cov[size_t(d * D + d)];
    for (double e : eig) kept += e;
    squared_error += std::max(0.0, total - kept) * double(m.n);  // per cell: the variance left out
    values += double(m.n) * double(D);
    // Whitened: latent channel l is the l-th coefficient over its standard deviation
    // sd_l = sqrt(eigenvalue l), floored at 1e-3 of the top one's so that a direction
    // without variance is not blown up; the decoder multiplies it back.
    std::vector<double> enc_w(size_t(L * D), 0.0), dec_w(size_t(L * D), 0.0), enc_b(size_t(L), 0.0);
    const double top = eig.empty() ? 0.0 : eig[0];
    for (int64_t l = 0; l < k; ++l) {
      const double sd = top > 0 ? std::sqrt(std::max(eig[size_t(l)], 1e-6 * top)) : 1.0;
      for (int64_t d = 0; d < D; ++d) {
        const double qd = q[size_t(l * D + d)];
        enc_w[size_t(l * D + d)] = qd / sd;
        dec_w[size_t(l * D + d)] = qd * sd;
        enc_b[size_t(l)] -= qd * mu[size_t(d)] / sd;
      }
    }
    set["encoder.shortcut." + part.second + ".weight"] = to_f32(enc_w, {L, C, t, s, s});
    set["encoder.shortcut." + part.second + ".bias"] = to_f32(enc_b, {L});
    set["decoder.shortcut." + part.second + ".weight"] = to_f32(dec_w, {L, C, t, s, s});
    set["decoder.shortcut." + part.second + ".bias"] = to_f32(mu, {C, t, s, s});
  }
  res.mse = squared_error / values;
  res.psnr = res.mse > 0 ? 10.0 * std::log10(4.0 / res.mse) : 99.0;
  // The network's own contribution starts at zero: the model is the linear code.
  for (const auto& kv : vae.named_parameters()) {
    const std::string& name = kv.first;
    Var var = kv.second;
    if (name == "decoder.conv_out.weight" || name == "decoder.conv_out.bias") {
      var.set_value(Tensor::zeros(var.shape()));
    } else if (name == "encoder.conv_out.weight" || name == "encoder.conv_out.bias") {
      Tensor v = var.value().to(DType::F32).contiguous().clone();  // mean rows [0, L) zero, logvar rows kept
      const int64_t per = v.numel() / v.shape()[0];
      std::fill(v.f32(), v.f32() + L * per, 0.0f);
      var.set_value(v);
    } else if (set.count(name)) {
      var.set_value(set[name].to(var.value().dtype()));
    }
  }
  return res;
}

}  // namespace tessera::models
