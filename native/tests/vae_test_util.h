// Helpers shared by the VAE test executables (test_vae, test_vae_stream): where the
// reference fixtures are, error checks, and tensor comparisons.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>

#include "core/error.h"
#include "core/tensor.h"
#include "models/vae.h"

namespace tessera_test {

// The tiny config the native VAE tests share: base 8, mult [1, 2, 2], one ResBlock, x4
// spatial, x2 temporal, 4 latent channels, 4 groups (a step takes milliseconds).
inline tessera::models::VaeConfig tiny_vae_config() {
  tessera::models::VaeConfig c;
  c.latent_channels = 4;
  c.base_channels = 8;
  c.channel_mult = {1, 2, 2};
  c.num_res_blocks = 1;
  c.spatial_down = 4;
  c.temporal_down = 2;
  c.norm_groups = 4;
  return c;
}

// The fixture folder: $TESSERA_VAE_FIXTURES, else argv[1], else <source tree>/test/fixtures/vae
// (from this header's path). Set once by set_vae_fixture_dir in main.
inline std::string& vae_fixture_dir() {
  static std::string dir;
  return dir;
}
inline void set_vae_fixture_dir(int argc, char** argv) {
  if (const char* env = std::getenv("TESSERA_VAE_FIXTURES")) {
    vae_fixture_dir() = env;
  } else if (argc > 1) {
    vae_fixture_dir() = argv[1];
  } else {
    const std::string here = __FILE__;  // <root>/native/tests/vae_test_util.h
    const size_t k = here.rfind("native/tests/");
    vae_fixture_dir() = (k == std::string::npos ? std::string() : here.substr(0, k)) + "test/fixtures/vae";
  }
  std::printf("fixtures: %s\n", vae_fixture_dir().c_str());
}
inline std::string fixture(const std::string& name) { return vae_fixture_dir() + "/" + name; }

// Runs fn and checks it throws tessera::Error with `code` and a message holding every part.
template <class F>
bool throws_with(F fn, tessera::ErrorCode code, std::initializer_list<const char*> parts) {
  try {
    fn();
  } catch (const tessera::Error& e) {
    bool ok = e.code() == code;
    for (const char* p : parts) ok = ok && std::strstr(e.what(), p) != nullptr;
    if (!ok) std::printf("  unexpected error (%s): %s\n", e.code_name(), e.what());
    return ok;
  }
  std::printf("  no error thrown\n");
  return false;
}

// max |a - b| over float32 tensors of one shape (infinity, printed, when the shapes differ).
inline double max_abs_diff(const tessera::Tensor& a, const tessera::Tensor& b) {
  if (a.shape() != b.shape()) {
    std::printf("  shapes differ: %s vs %s\n", tessera::shape_str(a.shape()).c_str(),
                tessera::shape_str(b.shape()).c_str());
    return INFINITY;
  }
  tessera::Tensor x = a.contiguous(), y = b.contiguous();
  double m = 0;
  for (int64_t i = 0; i < x.numel(); ++i) m = std::fmax(m, std::fabs(double(x.f32()[i]) - y.f32()[i]));
  return m;
}

inline double max_abs(const tessera::Tensor& a) {
  tessera::Tensor x = a.contiguous();
  double m = 0;
  for (int64_t i = 0; i < x.numel(); ++i) m = std::fmax(m, std::fabs(double(x.f32()[i])));
  return m;
}

}  // namespace tessera_test
