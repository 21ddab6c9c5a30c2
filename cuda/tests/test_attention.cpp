// Parity: cuda/attention.cu against native/cpu/attention (tessera::cpu::attention_forward
// / attention_backward): dense and packed (varlen) layouts, broadcast masks with -inf
// entries and fully masked rows, nq != nk, lengths that are not tile multiples, empty
// sequences, head dims 0..128, the fp32 forward and backward and the bf16 wmma forward.
//
// Error measure: max over elements of |gpu - cpu| / (1 + |cpu|); -inf (lse of rows
// without probability mass) must match exactly, NaN never. Outputs are pre-filled
// with NaN, so an element a kernel forgets to write fails the check.
// Tolerances (measured maxima are printed per case and at the end):
//   fp32 forward o, lse: 1e-6 (observed <= 2.1e-7). Same products in the same order
//     (fp32 FMA, d and keys ascending; 64-key blocks at DP <= 64 as on the CPU);
//     expf vs the CPU's vector exp (~1 ulp) and the row-sum order differ.
//   fp32 backward dq, dk, dv: 5e-6 (observed <= 7e-7). Same products; D_i, the row
//     sums and exp differ at ~1 ulp, amplified by the cancellation in dP - D.
//   bf16 forward (CPU on the bf16-rounded q, k, v): o 5e-3 (observed <= 1.3e-3),
//     lse 1e-6 (observed <= 1.7e-7). S is exact bf16 products summed in fp32 (only the
//     order differs) and the softmax runs in base 2 (scale log2(e) folded in), so lse
//     is fp32-accurate; P is rounded to bf16 (relative error
//     <= 2^-9 each) before P v, so o moves by up to ~2^-9 max|v| (|v| <= ~4 here).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "cpu/attention.h"
#include "parity.h"
#include "tests/check.h"

using tessera_parity::DeviceBuffer;
using tessera_parity::Dev;
using tessera_parity::randv;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

constexpr double kTolFwd = 1e-6, kTolBwd = 5e-6, kTolBf16O = 5e-3, kTolBf16Lse = 1e-6;

double g_fwd = 0, g_bwd = 0, g_bf16_o = 0, g_bf16_lse = 0;

// max |a - b| / (1 + |b|); equal infinities count 0, any other non-finite pair 1e30.
double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
      if (!(std::isinf(a[i]) && a[i] == b[i])) return 1e30;
      continue;
    }
    m = std::fmax(m, std::fabs(double(a[i]) - b[i]) / (1.0 + std::fabs(double(b[i]))));
  }
  return m;
}

std::vector<float> nans(int64_t n) { return std::vector<float>(size_t(n), kNaN); }

struct Spec {
  const char* name;
  int64_t B = 1, H = 1, Dh = 16, nq = 0, nk = 0;
  std::vector<int64_t> cu_q, cu_k;  // packed when non-empty
  int64_t mB = 0, mH = 0, mQ = 0;   // mask [mB, mH, mQ, Nk]; mB == 0: no mask
  bool full_row = false;            // mask row 2 (or batch B-1 of a key-padding mask) all -inf
  int64_t extra_max = 0;            // packed: max_seqlen above the true maximum (idle grid blocks)
  uint64_t seed = 1;
};

// Host data, the CPU reference and the matching shapes.
struct Problem {
  Spec sp;
  bool packed = false;
  int64_t qn = 0, kn = 0, lse_n = 0;
  std::vector<float> q, k, v, dout, mask;
  tessera::cpu::AttentionShape cs;
  tessera::cuda::AttentionShape gs;  // device pointers (cu, mask) set by DeviceInputs
};

// The shapes point into *out's own vectors, so the problem is built in place.
void make_problem(const Spec& sp, Problem* out) {
  Problem& p = *out;
  p.sp = sp;
  p.packed = !sp.cu_q.empty();
  const int64_t Tq = p.packed ? sp.cu_q.back() : 0, Tk = p.packed ? sp.cu_k.back() : 0;
  p.qn = p.packed ? Tq * sp.H * sp.Dh : sp.B * sp.H * sp.nq * sp.Dh;
  p.kn = p.packed ? Tk * sp.H * sp.Dh : sp.B * sp.H * sp.nk * sp.Dh;
  p.q = randv(p.qn, sp.seed);
  p.k = randv(p.kn, sp.seed + 1);
  p.v = randv(p.kn, sp.seed + 2);
  p.dout = randv(p.qn, sp.seed + 3);
  auto& cs = p.cs;
  cs.batch = p.packed ? int64_t(sp.cu_q.size()) - 1 : sp.B;
  cs.heads = sp.H;
  cs.head_dim = sp.Dh;
  cs.nq = sp.nq;
  cs.nk = sp.nk;
  cs.scale = sp.Dh > 0 ? float(1.0 / std::sqrt(double(sp.Dh))) : 1.0f;
  if (p.packed) {
    cs.cu_q = p.sp.cu_q.data();
    cs.cu_k = p.sp.cu_k.data();
  }
  if (sp.mB > 0) {
    const int64_t Nk = sp.nk, n = sp.mB * sp.mH * sp.mQ * Nk;
    p.mask = randv(n, sp.seed + 4, 1.5f);
    for (int64_t i = 3; i < n; i += 7) p.mask[size_t(i)] = -kInf;  // scattered masked entries
    if (sp.full_row && sp.mQ > 2)
      for (int64_t j = 0; j < Nk; ++j) p.mask[size_t(2 * Nk + j)] = -kInf;  // (b 0, h 0, row 2) fully masked
    if (sp.full_row && sp.mQ == 1 && sp.mB > 1)
      for (int64_t j = 0; j < sp.mH * Nk; ++j) p.mask[size_t((sp.mB - 1) * sp.mH * Nk + j)] = -kInf;  // batch B-1
    cs.mask = p.mask.data();
    cs.mask_i = sp.mQ == 1 ? 0 : Nk;
    cs.mask_h = sp.mH == 1 ? 0 : sp.mQ * Nk;
    cs.mask_b = sp.mB == 1 ? 0 : sp.mH * sp.mQ * Nk;
  }
  p.lse_n = tessera::cpu::attention_lse_numel(cs);
  auto& gs = p.gs;
  gs.batch = cs.batch;
  gs.heads = cs.heads;
  gs.head_dim = cs.head_dim;
  gs.nq = cs.nq;
  gs.nk = cs.nk;
  gs.scale = cs.scale;
  gs.mask_b = cs.mask_b;
  gs.mask_h = cs.mask_h;
  gs.mask_i = cs.mask_i;
  if (p.packed) {
    int64_t mq = 0, mk = 0;
    for (size_t b = 0; b + 1 < sp.cu_q.size(); ++b) {
      mq = std::max(mq, sp.cu_q[b + 1] - sp.cu_q[b]);
      mk = std::max(mk, sp.cu_k[b + 1] - sp.cu_k[b]);
    }
    gs.max_seqlen_q = mq + sp.extra_max;
    gs.max_seqlen_k = mk + sp.extra_max;
    gs.total_q = Tq;
  }
}

// Device copies of the offsets and the mask, wired into p->gs.
struct DeviceInputs {
  DeviceBuffer<int64_t> cu_q, cu_k;
  Dev mask;
  explicit DeviceInputs(Problem* p) : cu_q(p->sp.cu_q), cu_k(p->sp.cu_k), mask(p->mask) {
    if (p->packed) {
      p->gs.cu_q = cu_q.p;
      p->gs.cu_k = cu_k.p;
    }
    if (!p->mask.empty()) p->gs.mask = mask.p;
  }
};

struct Outputs {
  std::vector<float> o, lse, dq, dk, dv;
};

Outputs cpu_reference(const Problem& p, const std::vector<float>& q, const std::vector<float>& k,
                      const std::vector<float>& v, bool bwd) {
  Outputs r;
  r.o.resize(size_t(p.qn));
  r.lse.resize(size_t(p.lse_n));
  tessera::cpu::attention_forward(p.cs, q.data(), k.data(), v.data(), r.o.data(), r.lse.data());
  if (bwd) {
    r.dq.resize(size_t(p.qn));
    r.dk.resize(size_t(p.kn));
    r.dv.resize(size_t(p.kn));
    tessera::cpu::attention_backward(p.cs, q.data(), k.data(), v.data(), r.o.data(), r.lse.data(), p.dout.data(),
                                     r.dq.data(), r.dk.data(), r.dv.data());
  }
  return r;
}

// fp32 forward, then backward from the CPU's o and lse (isolates the backward kernels).
Outputs gpu_f32(Problem& p, const Outputs& ref, bool bwd) {
  DeviceInputs in(&p);
  Dev q(p.q), k(p.k), v(p.v), o(nans(p.qn)), lse(nans(p.lse_n));
  tessera::cuda::attention_forward(p.gs, q.p, k.p, v.p, o.p, lse.p, 0);
  Outputs r;
  r.o = o.get();
  r.lse = lse.get();
  if (bwd) {
    Dev oc(ref.o), lsec(ref.lse), dout(p.dout), dq(nans(p.qn)), dk(nans(p.kn)), dv(nans(p.kn));
    Dev ws(nans(tessera::cuda::attention_backward_workspace_floats(p.gs)));
    tessera::cuda::attention_backward(p.gs, q.p, k.p, v.p, oc.p, lsec.p, dout.p, dq.p, dk.p, dv.p, ws.p, 0);
    r.dq = dq.get();
    r.dk = dk.get();
    r.dv = dv.get();
  }
  return r;
}

void run_f32(const Spec& sp, bool bwd = true) {
  Problem p;
  make_problem(sp, &p);
  const Outputs ref = cpu_reference(p, p.q, p.k, p.v, bwd);
  const Outputs got = gpu_f32(p, ref, bwd);
  const double eo = max_rel(got.o, ref.o), el = max_rel(got.lse, ref.lse);
  g_fwd = std::fmax(g_fwd, std::fmax(eo, el));
  CHECK_NEAR(eo, 0.0, kTolFwd);
  CHECK_NEAR(el, 0.0, kTolFwd);
  if (bwd) {
    const double eq = max_rel(got.dq, ref.dq), ek = max_rel(got.dk, ref.dk), ev = max_rel(got.dv, ref.dv);
    g_bwd = std::fmax(g_bwd, std::fmax(eq, std::fmax(ek, ev)));
    std::printf("  %-28s o %.2g lse %.2g | dq %.2g dk %.2g dv %.2g\n", sp.name, eo, el, eq, ek, ev);
    CHECK_NEAR(eq, 0.0, kTolBwd);
    CHECK_NEAR(ek, 0.0, kTolBwd);
    CHECK_NEAR(ev, 0.0, kTolBwd);
  } else {
    std::printf("  %-28s o %.2g lse %.2g\n", sp.name, eo, el);
  }
}

// Round to bf16: device storage and the rounded floats for the CPU reference.
void round_bf16(const std::vector<float>& x, std::vector<__nv_bfloat16>* bits, std::vector<float>* rounded) {
  bits->resize(x.size());
  rounded->resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const uint16_t h = tessera::f32_to_bf16(x[i]);
    std::memcpy(static_cast<void*>(&(*bits)[i]), &h, 2);
    (*rounded)[i] = tessera::bf16_to_f32(h);
  }
}

// bf16 forward against the CPU on the rounded inputs. misalign: every input starts
// one element (2 bytes) past a 16-byte boundary, which forces the scalar load path.
void run_bf16(const Spec& sp, bool misalign = false) {
  Problem p;
  make_problem(sp, &p);
  std::vector<__nv_bfloat16> qb, kb, vb;
  std::vector<float> qr, kr, vr;
  round_bf16(p.q, &qb, &qr);
  round_bf16(p.k, &kb, &kr);
  round_bf16(p.v, &vb, &vr);
  const Outputs ref = cpu_reference(p, qr, kr, vr, false);
  DeviceInputs in(&p);
  const size_t off = misalign ? 1 : 0;
  auto shifted = [off](std::vector<__nv_bfloat16> x) {
    x.insert(x.begin(), off, __nv_bfloat16());
    return x;
  };
  DeviceBuffer<__nv_bfloat16> q(shifted(qb)), k(shifted(kb)), v(shifted(vb));
  Dev o(nans(p.qn)), lse(nans(p.lse_n));
  tessera::cuda::attention_forward_bf16(p.gs, q.p + off, k.p + off, v.p + off, o.p, lse.p, 0);
  const double eo = max_rel(o.get(), ref.o), el = max_rel(lse.get(), ref.lse);
  g_bf16_o = std::fmax(g_bf16_o, eo);
  g_bf16_lse = std::fmax(g_bf16_lse, el);
  std::printf("  %-28s bf16 o %.2g lse %.2g%s\n", sp.name, eo, el, misalign ? " (scalar loads)" : "");
  CHECK_NEAR(eo, 0.0, kTolBf16O);
  CHECK_NEAR(el, 0.0, kTolBf16Lse);
}

Spec dense(const char* name, int64_t B, int64_t H, int64_t Dh, int64_t nq, int64_t nk, uint64_t seed) {
  Spec s;
  s.name = name;
  s.B = B;
  s.H = H;
  s.Dh = Dh;
  s.nq = nq;
  s.nk = nk;
  s.seed = seed;
  return s;
}
Spec with_mask(Spec s, int64_t mB, int64_t mH, int64_t mQ, bool full_row) {
  s.mB = mB;
  s.mH = mH;
  s.mQ = mQ;
  s.full_row = full_row;
  return s;
}
Spec packed(const char* name, int64_t H, int64_t Dh, std::vector<int64_t> cu_q, std::vector<int64_t> cu_k,
            int64_t extra_max, uint64_t seed) {
  Spec s;
  s.name = name;
  s.H = H;
  s.Dh = Dh;
  s.cu_q = std::move(cu_q);
  s.cu_k = std::move(cu_k);
  s.extra_max = extra_max;
  s.seed = seed;
  return s;
}

// Sequence lengths: q 5, 0, 70, 15 and k 9, 11, 0, 80 — an empty query sequence with
// keys (zero dk/dv), queries without keys (o = 0, lse = -inf, zero dq), sequences
// longer than a tile.
const std::vector<int64_t> kCuQ = {0, 5, 5, 75, 90}, kCuK = {0, 9, 20, 20, 100};

}  // namespace

TEST_CASE(attention_f32_dense) {
  run_f32(dense("dense Dh24 37x53", 2, 3, 24, 37, 53, 100));
  run_f32(dense("dense Dh64 37x53", 2, 3, 64, 37, 53, 110));
  run_f32(dense("dense Dh40 70x75 (2x2 tiles)", 1, 2, 40, 70, 75, 120));
  run_f32(dense("dense Dh128 40x70", 1, 2, 128, 40, 70, 130));
  run_f32(dense("dense Dh80 33x45", 1, 2, 80, 33, 45, 140));
  run_f32(dense("dense Dh5 9x3", 2, 1, 5, 9, 3, 150));
}

TEST_CASE(attention_f32_masks) {
  run_f32(with_mask(dense("mask [1,1,Nq,Nk] row -inf", 2, 3, 24, 37, 53, 200), 1, 1, 37, true));
  run_f32(with_mask(dense("mask [B,1,1,Nk] batch -inf", 2, 3, 32, 37, 53, 210), 2, 1, 1, true));
  run_f32(with_mask(dense("mask [B,H,Nq,Nk]", 2, 2, 64, 21, 70, 220), 2, 2, 21, true));
  run_f32(with_mask(dense("mask [1,H,Nq,Nk] Dh128", 1, 2, 128, 19, 40, 230), 1, 2, 19, false));
}

TEST_CASE(attention_f32_empty) {
  run_f32(dense("dense nk=0", 1, 2, 16, 5, 0, 300));  // o = 0, lse = -inf, dq = 0
  run_f32(dense("dense nq=0", 1, 2, 16, 0, 7, 310));  // dk = dv = 0
  // Dh = 0: no o elements; lse is the log-sum-exp of the mask alone.
  run_f32(with_mask(dense("dense Dh0 mask", 2, 2, 0, 6, 9, 320), 1, 1, 6, true), false);
}

TEST_CASE(attention_f32_packed) {
  run_f32(packed("packed Dh40 q5,0,70,15 k9,11,0,80", 2, 40, kCuQ, kCuK, 0, 400));
  run_f32(packed("packed self Dh64 70,1,29 +10", 3, 64, {0, 70, 71, 100}, {0, 70, 71, 100}, 10, 410));
  run_f32(packed("packed Dh128 q5,0,70,15", 1, 128, kCuQ, kCuK, 0, 420));
}

TEST_CASE(attention_bf16_forward) {
  run_bf16(dense("dense Dh64 37x150", 2, 2, 64, 37, 150, 500));  // vector loads, register prefetch
  run_bf16(with_mask(dense("mask [1,1,Nq,Nk] Dh24", 2, 2, 24, 37, 53, 510), 1, 1, 37, true));
  run_bf16(with_mask(dense("mask [B,1,1,Nk] Dh40", 2, 1, 40, 19, 70, 520), 2, 1, 1, true));
  run_bf16(dense("dense Dh128 20x70", 1, 1, 128, 20, 70, 530));  // vector loads, no prefetch
  run_bf16(dense("dense Dh80 17x66", 1, 2, 80, 17, 66, 540), true);
  run_bf16(packed("packed Dh20 q5,0,70,15", 2, 20, kCuQ, kCuK, 3, 550));  // Dh % 8 != 0: scalar loads
}

#if TESSERA_EMU
// Two passes, no atomics: bit-identical results under different thread schedules.
TEST_CASE(attention_deterministic_across_schedules) {
  const auto saved = tessera_emu::schedule();
  Problem p;
  make_problem(with_mask(dense("sched", 1, 2, 24, 37, 53, 600), 1, 1, 37, true), &p);
  const Outputs ref = cpu_reference(p, p.q, p.k, p.v, true);
  std::vector<Outputs> runs;
  for (auto order : {tessera_emu::Order::InOrder, tessera_emu::Order::Reverse, tessera_emu::Order::Random}) {
    tessera_emu::set_schedule({order, 11});
    runs.push_back(gpu_f32(p, ref, true));
  }
  tessera_emu::set_schedule(saved);
  for (size_t i = 1; i < runs.size(); ++i) {
    CHECK(runs[i].o == runs[0].o);
    CHECK(runs[i].lse == runs[0].lse);
    CHECK(runs[i].dq == runs[0].dq);
    CHECK(runs[i].dk == runs[0].dk);
    CHECK(runs[i].dv == runs[0].dv);
  }
}
#endif

TEST_CASE(attention_bad_arguments) {
  auto expect_invalid = [](const tessera::cuda::AttentionShape& s, const char* needle) {
    Dev buf(std::vector<float>(64, 1.0f));
    try {
      tessera::cuda::attention_forward(s, buf.p, buf.p, buf.p, buf.p, buf.p, 0);
      std::printf("  no exception for '%s'\n", needle);
      CHECK(false);
    } catch (const std::invalid_argument& e) {
      const bool named = std::string(e.what()).find(needle) != std::string::npos;
      if (!named) std::printf("  message '%s' lacks '%s'\n", e.what(), needle);
      CHECK(named);
    }
  };
  tessera::cuda::AttentionShape s;
  s.batch = 1;
  s.heads = 1;
  s.nq = s.nk = 4;
  s.head_dim = 129;
  expect_invalid(s, "head_dim must be in [0, 128]");
  s.head_dim = 16;
  s.nq = -1;
  expect_invalid(s, "got -1");
  s.nq = 4;
  s.scale = kNaN;
  expect_invalid(s, "scale must be finite");
  s.scale = 1.0f;
  DeviceBuffer<int64_t> cu(std::vector<int64_t>{0, 4});
  s.cu_q = cu.p;
  expect_invalid(s, "cu_q and cu_k");
  s.cu_q = nullptr;
  // backward without its workspace
  Dev buf(std::vector<float>(64, 1.0f));
  bool threw = false;
  try {
    tessera::cuda::attention_backward(s, buf.p, buf.p, buf.p, buf.p, buf.p, buf.p, buf.p, buf.p, buf.p, nullptr, 0);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("workspace") != std::string::npos;
  }
  CHECK(threw);
}

TEST_CASE(report_max_errors) {
  std::printf("  max rel err: f32 fwd %.3g (tol %.0e), f32 bwd %.3g (tol %.0e), bf16 o %.3g (tol %.0e), "
              "bf16 lse %.3g (tol %.0e)\n",
              g_fwd, kTolFwd, g_bwd, kTolBwd, g_bf16_o, kTolBf16O, g_bf16_lse, kTolBf16Lse);
}

TEST_MAIN()
