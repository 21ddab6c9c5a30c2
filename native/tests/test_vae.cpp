// The causal 3D-conv VAE (native/models/vae.h) against its PyTorch reference
// (test/fixtures/vae/make_vae_fixtures.py): the same weights give the same mean,
// logvar, z, reconstruction, KL and the same gradient for every parameter and the
// input; plus the config and input rules, causality (a prefix of the video gives
// exactly the prefix of the latents and back), the model file round trip, and a
// few training steps.
//
// Fixtures are found in $TESSERA_VAE_FIXTURES, else argv[1], else
// <source tree>/test/fixtures/vae (tests/vae_test_util.h).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "core/autograd.h"
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

// ---- helpers --------------------------------------------------------------------

static VaeConfig tiny_config() { return tessera_test::tiny_vae_config(); }

static Var slice_frames(const Var& x, int64_t start, int64_t end) {
  return Var(x.value().slice(2, start, end).contiguous());
}

// ---- reference comparison ---------------------------------------------------------

struct Compare {
  double rtol, atol;
  double worst = 0;  // max over tensors of max |got - want| / (atol * scale + rtol * |want|): passes <= 1
  std::string worst_name;
  double worst_rel = 0;  // max over tensors of max |got - want| / max |want|
  int tensors = 0;

  // scale = max |ref| of `scale_ref` (the tensor itself unless said otherwise).
  void check(const std::string& name, const Tensor& got, const Tensor& want, const Tensor& scale_ref) {
    ++tensors;
    if (got.shape() != want.shape()) {
      std::printf("  %s: shape %s, reference %s\n", name.c_str(), shape_str(got.shape()).c_str(),
                  shape_str(want.shape()).c_str());
      CHECK(false);
      return;
    }
    Tensor g = got.contiguous(), w = want.contiguous();
    const double scale = max_abs(scale_ref);
    double ratio = 0, maxerr = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < g.numel(); ++i) {
      const double e = std::fabs(double(g.f32()[i]) - w.f32()[i]);
      const double bound = atol * scale + rtol * std::fabs(double(w.f32()[i]));
      const double r = bound > 0 ? e / bound : (e > 0 ? INFINITY : 0);
      if (!(r <= 1)) ++bad;
      ratio = std::fmax(ratio, r);
      maxerr = std::fmax(maxerr, e);
    }
    if (bad) {
      std::printf("  %s: %lld of %lld elements out of tolerance (max |err| %.3g, scale %.3g, %.2f x tol)\n",
                  name.c_str(), (long long)bad, (long long)g.numel(), maxerr, scale, ratio);
      CHECK(false);
    }
    if (ratio > worst) worst = ratio, worst_name = name;
    if (scale > 0) worst_rel = std::fmax(worst_rel, maxerr / scale);
  }
};

// The name whose largest magnitude scales `name`'s absolute tolerance (as in
// make_vae_fixtures.py): the gradient of an attention key bias is exactly zero in
// exact arithmetic (a shift of every logit of a query's row), so it is judged on the
// scale of the key weight's gradient.
static std::string scale_name(const std::string& name) {
  const std::string suffix = ".k.bias";
  if (name.rfind("grad.", 0) == 0 && name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, name.size() - 4) + "weight";
  return name;
}

static void run_reference_case(const std::string& model, const std::string& c) {
  const auto t0 = std::chrono::steady_clock::now();
  Vae vae = Vae::load(fixture(model + ".weights.safetensors"));
  SafetensorsFile f = read_safetensors(fixture(model + "." + c + ".safetensors"));
  const double kl_weight = std::atof(f.metadata.at("kl_weight").c_str());
  Compare cmp{std::atof(f.metadata.at("rtol").c_str()), std::atof(f.metadata.at("atol").c_str())};
  CHECK(cmp.rtol > 0 && cmp.rtol <= 1e-4 && cmp.atol > 0 && cmp.atol <= 1e-4);

  Var x(f.at("x"), true);
  VaeOutput out = vae.forward(x, Var(f.at("eps")));
  // loss = sum(recon * g.recon) + sum(mean * g.mean) + sum(logvar * g.logvar) + kl_weight * kl
  auto dot = [](const Var& a, const Tensor& g) { return apply1("sum", {apply1("mul", {a, Var(g)})}); };
  Var loss = apply1("add", {dot(out.recon, f.at("g.recon")), dot(out.mean, f.at("g.mean"))});
  loss = apply1("add", {loss, dot(out.logvar, f.at("g.logvar"))});
  loss = apply1("add", {loss, apply1("scale", {out.kl}, {{"alpha", kl_weight}})});
  backward(loss);
  CHECK(tape_size() == 0);

  auto check = [&](const std::string& name, const Tensor& got) {
    const Tensor* want = f.find(name);
    CHECK(want != nullptr);
    if (want) cmp.check(name, got, *want, f.at(scale_name(name)));
  };
  check("out.mean", out.mean.value());
  check("out.logvar", out.logvar.value());
  check("out.z", out.z.value());
  check("out.recon", out.recon.value());
  check("out.kl", out.kl.value().reshape({}));
  check("grad.x", x.grad());
  for (auto& kv : vae.named_parameters()) {
    // The linear shortcut is never trained: no gradient reaches it (nor the reference's).
    const bool trained = kv.first.find(".shortcut.") == std::string::npos;
    CHECK(kv.second.grad().defined() == trained);
    if (trained && kv.second.grad().defined()) check("grad." + kv.first, kv.second.grad());
  }
  // Every reference tensor was compared.
  int expected = 0;
  for (auto& kv : f.tensors) expected += kv.first.rfind("out.", 0) == 0 || kv.first.rfind("grad.", 0) == 0;
  CHECK(cmp.tensors == expected);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  %s.%s: x %s, %d tensors; worst %.3f of the tolerance (%s), max |err| / max |want| = %.2e; %.0f ms\n",
              model.c_str(), c.c_str(), shape_str(x.shape()).c_str(), cmp.tensors, cmp.worst, cmp.worst_name.c_str(),
              cmp.worst_rel, ms);
}

// ---- the reference fixtures -----------------------------------------------------------

// The model file holds the reference's state_dict; names, order and shapes match ours.
TEST_CASE(parameter_names_match_the_reference) {
  for (const char* model : {"tiny_a", "tiny_b", "tiny_c", "tiny_d"}) {
    SafetensorsFile f = read_safetensors(fixture(std::string(model) + ".weights.safetensors"));
    Vae vae(VaeConfig::from_json(f.metadata.at("config")), 1);
    const auto& params = vae.named_parameters();
    const std::string order = f.metadata.at("param_names");
    CHECK(params.size() == f.tensors.size());
    std::string ours = "[";
    for (size_t i = 0; i < params.size(); ++i) {
      ours += (i ? ", \"" : "\"") + params[i].first + "\"";
      const Tensor* t = f.find(params[i].first);
      CHECK(t != nullptr);
      if (t && t->shape() != params[i].second.shape()) {
        std::printf("  %s: ours %s, reference %s\n", params[i].first.c_str(),
                    shape_str(params[i].second.shape()).c_str(), shape_str(t->shape()).c_str());
        CHECK(false);
      }
    }
    ours += "]";
    CHECK(ours == order);  // json.dumps(list) of the state_dict keys, same order
    CHECK(vae.config().to_json() == f.metadata.at("config"));
    std::printf("  %s: %zu tensors, %lld parameters\n", model, params.size(), (long long)vae.num_parameters());
  }
}

TEST_CASE(matches_reference_tiny_a_video) { run_reference_case("tiny_a", "video"); }
TEST_CASE(matches_reference_tiny_a_image) { run_reference_case("tiny_a", "image"); }
TEST_CASE(matches_reference_tiny_b_video) { run_reference_case("tiny_b", "video"); }
TEST_CASE(matches_reference_tiny_c_video) { run_reference_case("tiny_c", "video"); }
TEST_CASE(matches_reference_tiny_c_image) { run_reference_case("tiny_c", "image"); }
TEST_CASE(matches_reference_tiny_d_video) { run_reference_case("tiny_d", "video"); }
TEST_CASE(matches_reference_tiny_d_image) { run_reference_case("tiny_d", "image"); }

// ---- config and input rules -------------------------------------------------------------

TEST_CASE(config_rules) {
  VaeConfig d;
  d.validate();  // the defaults are valid
  CHECK(d.levels() == 4 && d.channels(3) == 256 && d.temporal_stride(0) == 2 && d.temporal_stride(1) == 2 &&
        d.temporal_stride(2) == 1);
  CHECK(d.latent_shape({1, 3, 17, 256, 128}) == Shape({1, 8, 5, 32, 16}));
  CHECK(d.video_shape({1, 8, 5, 32, 16}) == Shape({1, 3, 17, 256, 128}));
  const auto IA = ErrorCode::InvalidArgument;
  VaeConfig c = d;
  c.spatial_down = 6;
  CHECK(throws_with([&] { c.validate(); }, IA, {"spatial_down must be 4, 8 or 16, got 6"}));
  c = d;
  c.temporal_down = 3;
  CHECK(throws_with([&] { c.validate(); }, IA, {"temporal_down must be 1, 2 or 4, got 3"}));
  c = d;
  c.channel_mult = {1, 2, 4};
  CHECK(throws_with([&] { c.validate(); }, IA, {"channel_mult must have", "= 4 entries", "got 3"}));
  c = d;
  c.base_channels = 12;
  CHECK(throws_with([&] { c.validate(); }, IA, {"norm_groups 8 must divide", "12 channels"}));
  c = d;
  c.num_res_blocks = 0;
  CHECK(throws_with([&] { c.validate(); }, IA, {"num_res_blocks must be >= 1, got 0"}));
  CHECK(throws_with([&] { Vae v(c); }, IA, {"num_res_blocks"}));
  c = d;
  c.mean_shortcut = true;
  c.latent_channels = 2;
  CHECK(throws_with([&] { c.validate(); }, IA, {"mean_shortcut needs latent_channels >= in_channels", "got latent_channels 2"}));
  c = d;
  c.mean_shortcut = c.linear_shortcut = true;
  CHECK(throws_with([&] { c.validate(); }, IA, {"mean_shortcut and linear_shortcut exclude each other", "got both true"}));
  c = tiny_config();
  c.linear_shortcut = true;
  CHECK(VaeConfig::from_json(c.to_json()).linear_shortcut);
  CHECK(!VaeConfig::from_json("{\"spatial_down\":8}").linear_shortcut);
  CHECK(throws_with([] { VaeConfig::from_json("{\"linear_shortcut\":1}"); }, ErrorCode::Format,
                    {"linear_shortcut must be true or false"}));
  // JSON round trip, strictness.
  c = tiny_config();
  c.mid_attention = false;
  c.norm_eps = 1e-5;
  c.mean_shortcut = true;
  VaeConfig r = VaeConfig::from_json(c.to_json());
  CHECK(r.to_json() == c.to_json() && r.norm_eps == 1e-5 && !r.mid_attention && r.channel_mult == c.channel_mult &&
        r.mean_shortcut);
  CHECK(!VaeConfig::from_json("{\"spatial_down\":8}").mean_shortcut);  // files from before the key: off
  CHECK(throws_with([] { VaeConfig::from_json("{\"spatial_dwn\":8}"); }, ErrorCode::Format,
                    {"unknown key 'spatial_dwn'"}));
  CHECK(throws_with([] { VaeConfig::from_json("{\"spatial_down\":8"); }, ErrorCode::Format, {"invalid JSON"}));
  CHECK(throws_with([] { VaeConfig::from_json("{\"spatial_down\":5}"); }, IA, {"spatial_down"}));
}

TEST_CASE(input_rules) {
  Vae vae(tiny_config(), 3);
  const auto SM = ErrorCode::ShapeMismatch;
  auto enc = [&](const Shape& s) { return [&vae, s] { vae.encode(Var(Tensor::zeros(s))); }; };
  CHECK(throws_with(enc({1, 3, 4, 16, 16}), SM, {"T = 4 frames", "T = 1 + temporal_down * k", "temporal_down = 2"}));
  CHECK(throws_with(enc({1, 3, 5, 18, 16}), SM, {"H = 18", "multiple of spatial_down = 4"}));
  CHECK(throws_with(enc({1, 3, 5, 16, 10}), SM, {"W = 10", "multiple of spatial_down = 4"}));
  CHECK(throws_with(enc({1, 4, 5, 16, 16}), SM, {"x has 4 channels", "in_channels = 3"}));
  CHECK(throws_with(enc({3, 5, 16, 16}), SM, {"x must be 5-d"}));
  CHECK(throws_with(enc({1, 3, 0, 16, 16}), SM, {"T = 0 frames"}));
  CHECK(throws_with([&] { vae.decode(Var(Tensor::zeros({1, 3, 2, 4, 4}))); }, SM,
                    {"z has 3 channels", "latent_channels = 4"}));
  CHECK(throws_with([&] { vae.forward(Var(Tensor::zeros({1, 3, 5, 16, 16})), Var(Tensor::zeros({1, 4, 2, 4, 4}))); },
                    SM, {"eps must have the latent shape [1, 4, 3, 4, 4]"}));
  CHECK(throws_with([&] { vae.forward(Var(Tensor::zeros({1, 3, 6, 16, 16})), 1); }, SM, {"T = 6 frames"}));
  clear_tape();
}

// ---- causality --------------------------------------------------------------------------

// Latent frame j depends only on video frames <= 2j (temporal_down 2): changing frames
// 5..8 leaves latent frames 0..2 (the encoding of frames 0..4) unchanged, encoding
// frames 0..4 alone gives them again, and frame 0 alone gives latent frame 0.
TEST_CASE(encoder_is_causal) {
  NoGradGuard ng;
  Vae vae = Vae::load(fixture("tiny_a.weights.safetensors"));
  Tensor x = Tensor::rand({2, 3, 9, 16, 16}, 21);
  Tensor x2 = x.clone();
  Tensor noise = Tensor::rand({2, 3, 9, 16, 16}, 22);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t t = 5; t < 9; ++t)
        for (int64_t i = 0; i < 256; ++i) {
          const int64_t k = (((n * 3 + c) * 9 + t) * 256) + i;
          x2.f32()[k] = 2 * noise.f32()[k] - 1;
        }
  VaePosterior a = vae.encode(Var(x)), b = vae.encode(Var(x2));
  CHECK(a.mean.shape() == Shape({2, 4, 5, 4, 4}));
  const double same = max_abs_diff(a.mean.value().slice(2, 0, 3), b.mean.value().slice(2, 0, 3)) +
                      max_abs_diff(a.logvar.value().slice(2, 0, 3), b.logvar.value().slice(2, 0, 3));
  const double later = max_abs_diff(a.mean.value().slice(2, 3, 5), b.mean.value().slice(2, 3, 5));
  VaePosterior p = vae.encode(slice_frames(Var(x), 0, 5));
  VaePosterior f0 = vae.encode(slice_frames(Var(x), 0, 1));
  const double prefix = max_abs_diff(p.mean.value(), a.mean.value().slice(2, 0, 3)) +
                        max_abs_diff(p.logvar.value(), a.logvar.value().slice(2, 0, 3));
  const double first = max_abs_diff(f0.mean.value(), a.mean.value().slice(2, 0, 1));
  std::printf("  frames 5..8 changed: latent frames 0..2 moved %.3g, frames 3..4 moved %.3g; "
              "prefix 0..4 vs whole %.3g; frame 0 alone vs whole %.3g\n",
              same, later, prefix, first);
  CHECK(same <= 1e-6);
  CHECK(later > 1e-3);  // the test can see a change
  CHECK(prefix <= 1e-6);
  CHECK(first <= 1e-6);
}

// Output frame f depends only on latent frames <= ceil(f / 2): decoding the first k
// latent frames gives exactly the first 1 + 2 (k-1) output frames.
TEST_CASE(decoder_is_causal) {
  NoGradGuard ng;
  Vae vae = Vae::load(fixture("tiny_a.weights.safetensors"));
  Tensor z = Tensor::randn({1, 4, 4, 4, 4}, 31);
  Var whole = vae.decode(Var(z));
  CHECK(whole.shape() == Shape({1, 3, 7, 16, 16}));
  double worst = 0;
  for (int64_t k = 1; k <= 3; ++k) {
    Var part = vae.decode(slice_frames(Var(z), 0, k));
    worst = std::fmax(worst, max_abs_diff(part.value(), whole.value().slice(2, 0, 1 + 2 * (k - 1))));
  }
  std::printf("  decode(z[:k]) vs decode(z)[:1+2(k-1)], k = 1..3: max diff %.3g\n", worst);
  CHECK(worst <= 1e-6);
}

// ---- files, posterior, init, training -------------------------------------------------------

TEST_CASE(model_file_round_trip) {
  VaeConfig c = tiny_config();
  Vae vae(c, 5);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tessera_test_vae_" + std::to_string(::getpid()) + ".safetensors"))
          .string();
  vae.save(path, {{"note", "round \"trip\"\n"}});
  Vae back = Vae::load(path);
  CHECK(back.config().to_json() == c.to_json());
  double diff = 0;
  for (size_t i = 0; i < vae.named_parameters().size(); ++i) {
    CHECK(back.named_parameters()[i].first == vae.named_parameters()[i].first);
    diff += max_abs_diff(back.named_parameters()[i].second.value(), vae.named_parameters()[i].second.value());
  }
  CHECK(diff == 0);
  SafetensorsFile f = read_safetensors(path);
  CHECK(f.metadata.at("note") == "round \"trip\"\n" && f.metadata.at("format") == "tessera.vae");
  // A wrong shape or a missing / extra tensor names the tensor.
  auto tensors = f.tensors;
  tensors[0].second = Tensor::zeros({1});
  CHECK(throws_with([&] { back.load_state_dict(tensors); }, ErrorCode::ShapeMismatch,
                    {"'encoder.conv_in.weight' must be [8, 3, 3, 3, 3]"}));
  tensors = f.tensors;
  tensors.pop_back();
  CHECK(throws_with([&] { back.load_state_dict(tensors); }, ErrorCode::Format,
                    {"'decoder.conv_out.bias' [3] is missing"}));
  tensors = f.tensors;
  tensors.emplace_back("encoder.extra", Tensor::zeros({2}));
  CHECK(throws_with([&] { back.load_state_dict(tensors); }, ErrorCode::Format, {"unexpected tensor 'encoder.extra'"}));
  back.load_state_dict(tensors, false);  // not strict: extras ignored
  // Malformed files.
  std::vector<uint8_t> bytes(16, 0);
  bytes[0] = 200;  // header length 200 > file
  CHECK(throws_with([&] { parse_safetensors(bytes.data(), bytes.size(), "mem"); }, ErrorCode::Format,
                    {"header length 200 exceeds the file"}));
  const std::string bad = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
  std::vector<uint8_t> file(8 + bad.size() + 8, 0);
  file[0] = uint8_t(bad.size());
  std::memcpy(file.data() + 8, bad.data(), bad.size());
  CHECK(throws_with([&] { parse_safetensors(file.data(), file.size(), "mem"); }, ErrorCode::Format,
                    {"tensor 'a' data_offsets [0, 8] do not fit shape [3]"}));
  CHECK(throws_with([] { Vae::load("no/such/file.safetensors"); }, ErrorCode::Io, {"cannot open"}));
  std::remove(path.c_str());
}

TEST_CASE(posterior_sampling_clamp_and_kl) {
  Shape s{2, 3, 1, 2, 2};
  Tensor mean = Tensor::randn(s, 41), lv = Tensor::randn(s, 42);
  lv.f32()[0] = -50.0f;  // clamped by encode; here the raw posterior math
  lv.f32()[1] = 25.0f;
  VaePosterior p{Var(mean), Var(lv)};
  Var z = p.sample(7, 3);
  Tensor eps = Tensor::randn(s, 7, 3);
  double err = 0, kl = 0;
  for (int64_t i = 0; i < mean.numel(); ++i) {
    const double m = mean.f32()[i], l = lv.f32()[i];
    err = std::fmax(err, std::fabs(z.value().f32()[i] - (m + std::exp(0.5 * l) * eps.f32()[i])) /
                             (1 + std::fabs(m + std::exp(0.5 * l) * eps.f32()[i])));
    kl += 0.5 * (m * m + std::exp(l) - 1 - l);
  }
  kl /= 2;
  CHECK(err < 1e-5);
  CHECK_NEAR(p.kl().value().f32()[0], kl, 1e-5 * std::fabs(kl));
  // clamp with the posterior's bounds: values and the gradient mask.
  Var raw(Tensor::from_f32(std::vector<float>{-40, -30, 0, 20, 21}.data(), {5}), true);
  Var c = apply1("clamp", {raw}, {{"min", -30.0}, {"max", 20.0}});
  const float want[5] = {-30, -30, 0, 20, 20};
  for (int i = 0; i < 5; ++i) CHECK(c.value().f32()[i] == want[i]);
  backward(apply1("sum", {c}));
  const float gwant[5] = {0, 1, 1, 1, 0};
  for (int i = 0; i < 5; ++i) CHECK(raw.grad().f32()[i] == gwant[i]);
}

// Same seed, same weights; conv weights and biases inside +-1/sqrt(fan_in), norms (1, 0).
TEST_CASE(init_is_deterministic_and_bounded) {
  Vae a(tiny_config(), 9), b(tiny_config(), 9), c(tiny_config(), 10);
  double same = 0, differ = 0;
  bool bounded = true;
  for (size_t i = 0; i < a.named_parameters().size(); ++i) {
    const auto& [name, v] = a.named_parameters()[i];
    same += max_abs_diff(v.value(), b.named_parameters()[i].second.value());
    differ += max_abs_diff(v.value(), c.named_parameters()[i].second.value());
    if (name.find("norm") != std::string::npos) continue;
    const Shape& ws = a.named_parameters()[i - (v.shape().size() == 1)].second.shape();
    const double bound = 1.0 / std::sqrt(double(ws[1] * ws[2] * ws[3] * ws[4]));
    if (name == "encoder.conv_out.bias") {
      // mean half uniform, logvar half -6 (the posterior starts with std 0.05)
      const int64_t L = v.shape()[0] / 2;
      const float* p = v.value().f32();
      double mean_max = 0;
      for (int64_t j = 0; j < L; ++j) mean_max = std::max(mean_max, double(std::fabs(p[j])));
      for (int64_t j = L; j < 2 * L; ++j) bounded = bounded && p[j] == -6.0f;
      bounded = bounded && mean_max <= bound && mean_max > 0.5 * bound;
      continue;
    }
    bounded = bounded && max_abs(v.value()) <= bound && max_abs(v.value()) > 0.5 * bound;
  }
  CHECK(same == 0);
  CHECK(differ > 0);
  CHECK(bounded);
}

// The model trains: AdamW on the reconstruction (+ a small KL) of a fixed batch of
// smooth moving videos lowers the L1 error well below the starting point.
TEST_CASE(a_few_training_steps_lower_the_loss) {
  VaeConfig cfg = tiny_config();
  Vae vae(cfg, 11);
  Tensor x = Tensor::empty({2, 3, 5, 16, 16});
  float* p = x.f32();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t t = 0; t < 5; ++t)
        for (int64_t h = 0; h < 16; ++h)
          for (int64_t w = 0; w < 16; ++w)
            *p++ = float(0.8 * std::sin(0.4 * (w + t) + 0.7 * c + n) * std::cos(0.3 * h - 0.2 * t));
  AdamW opt(vae.parameters(), AdamWConfig{2e-3, 0.9, 0.999, 1e-8, 0.0});
  float first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    VaeOutput out = vae.forward(Var(x), 100, uint64_t(step) * 1000);
    Var rec = apply1("l1_loss", {out.recon, Var(x)});
    Var loss = apply1("add", {rec, apply1("scale", {out.kl}, {{"alpha", 1e-6}})});
    backward(loss);
    opt.clip_grad_norm(1.0);
    opt.step();
    if (step == 0) first = rec.value().f32()[0];
    last = rec.value().f32()[0];
  }
  std::printf("  L1 reconstruction: %.4f -> %.4f after 40 AdamW steps\n", first, last);
  CHECK(last < 0.6f * first);
}

int main(int argc, char** argv) {
  tessera_test::set_vae_fixture_dir(argc, argv);
  const auto t0 = std::chrono::steady_clock::now();
  int rc = tessera_test::run_all();
  std::printf("total %.2f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return rc;
}
