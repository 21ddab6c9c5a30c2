// Parity: cuda/optim.cu against native/cpu/optim (adamw_step, global_norm).
#include <cmath>
#include <vector>

#include "core/tensor.h"
#include "cpu/optim.h"
#include "optim.h"
#include "parity.h"
#include "tests/check.h"

using tessera::Tensor;
using tessera_parity::Dev;
using tessera_parity::randv;

namespace {

// max |a - b| / max(|b|, rms(b)): relative, with entries that cancelled to near zero
// measured against the vector's scale (a CPU build without FMA rounds m and v
// differently by an ulp of the operands, not of the result).
double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double ss = 0;
  for (float e : b) ss += double(e) * e;
  const double rms = std::sqrt(ss / double(b.size()));
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::fmax(m, std::fabs(double(a[i]) - b[i]) / std::fmax(rms, std::fabs(double(b[i]))));
  return m;
}

}  // namespace

TEST_CASE(adamw_matches_cpu) {
  for (int64_t n : {1, 37, 1000, 5003}) {
    tessera::AdamWConfig cfg;
    cfg.lr = 3e-3;
    cfg.weight_decay = 0.05;
    auto p = randv(n, 1 + n), m = randv(n, 2 + n, 0.1f), v = randv(n, 3 + n, 0.01f);
    for (auto& e : v) e = e * e;  // second moment >= 0
    Dev dp(p), dm(m), dv(v);
    for (int64_t step = 1; step <= 3; ++step) {
      auto g = randv(n, 10 * step + n);
      tessera::cpu::adamw_step(p.data(), g.data(), m.data(), v.data(), n, cfg, step);
      Dev dg(g);
      tessera::cuda::adamw_step(dp.p, dg.p, dm.p, dv.p, n, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay,
                                step, 0);
    }
    const double ep = max_rel(dp.get(), p), em = max_rel(dm.get(), m), ev = max_rel(dv.get(), v);
    std::printf("  adamw n=%lld (3 steps): p %.3g m %.3g v %.3g (relative)\n", (long long)n, ep, em, ev);
    // tolerance: same float formula (bit-identical with the FMA-contracted CPU kernel); 1e-6 relative
    CHECK(ep < 1e-6);
    CHECK(em < 1e-6);
    CHECK(ev < 1e-6);
  }
}

TEST_CASE(global_norm_matches_cpu) {
  const std::vector<int64_t> sizes = {1, 0, 333, 70001, 4097};
  std::vector<std::vector<float>> host;
  for (size_t i = 0; i < sizes.size(); ++i) host.push_back(randv(sizes[i], 50 + i, float(i + 1)));
  std::vector<const float*> hp;
  for (auto& h : host) hp.push_back(h.data());
  const double ref = tessera::cpu::global_norm(hp, sizes);

  std::vector<Dev*> dev;
  std::vector<const float*> dp;
  for (auto& h : host) {
    dev.push_back(new Dev(h));
    dp.push_back(dev.back()->p);
  }
  Dev ws(size_t(tessera::cuda::global_norm_workspace_floats(int64_t(sizes.size())))), out(1);
  tessera::cuda::global_norm(dp, sizes, ws.p, out.p, 0);
  const float got = out.get()[0];
  tessera::cuda::global_norm(dp, sizes, ws.p, out.p, 0);
  const float again = out.get()[0];
  std::printf("  global_norm: gpu %.9g cpu %.9g rel %.3g\n", got, ref, std::fabs(got - ref) / ref);
  // tolerance: fp32 per-thread sums of <= ~600 terms, double across blocks -> ~1e-6 relative
  CHECK(std::fabs(got - ref) <= 2e-6 * ref);
  CHECK(got == again);  // deterministic
  for (auto* d : dev) delete d;
}

TEST_MAIN()
