#include "core/philox.h"

#include "core/threadpool.h"

namespace tessera {

void philox_randn(uint64_t seed, uint64_t offset, float* out, int64_t n) {
  parallel_for(n, 4096, [&](int64_t b, int64_t e) {
    int64_t i = b;
    // Whole aligned groups of 4 share one Philox block: compute it once.
    while (i < e) {
      uint64_t idx = offset + uint64_t(i);
      if ((idx & 3) == 0 && i + 4 <= e) {
        Philox4 r = philox4x32_10(idx >> 2, seed);
        for (int pair = 0; pair < 2; ++pair) {
          double radius = sqrt(-2.0 * philox_log(philox_uniform_d(r.v[2 * pair])));
          double sn, cs;
          philox_sincos_2pi(philox_uniform_d(r.v[2 * pair + 1]), &sn, &cs);
          out[i + 2 * pair] = float(radius * cs);
          out[i + 2 * pair + 1] = float(radius * sn);
        }
        i += 4;
      } else {
        out[i] = philox_normal_at(seed, idx);
        ++i;
      }
    }
  });
}

void philox_uniform(uint64_t seed, uint64_t offset, float* out, int64_t n) {
  parallel_for(n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = philox_uniform_at(seed, offset + uint64_t(i));
  });
}

}  // namespace tessera
