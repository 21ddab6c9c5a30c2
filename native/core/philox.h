// Philox4x32-10 counter-based random numbers (Salmon et al., SC'11), the
// generator cuRAND and PyTorch use on the GPU.
//
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (block & 0xffffffff, block >> 32, 0, 0), block = index / 4
//   10 rounds of: (c0,c1,c2,c3) <- (hi(M1*c2)^c1^k0, lo(M1*c2), hi(M0*c0)^c3^k1, lo(M0*c0));
//                 k0 += W0; k1 += W1
// Element `index` of a stream is lane index % 4 of block index / 4, so any
// (seed, offset) slice can be produced by any thread on any backend.
//
// Uniforms: u = ((x >> 8) + 0.5) * 2^-24, strictly inside (0, 1).
// Normals (Box-Muller on lane pairs (0,1) and (2,3)):
//   z_even = sqrt(-2 ln u_even) * cos(2 pi u_odd),  z_odd = sqrt(-2 ln u_even) * sin(2 pi u_odd)
// The log, sin and cos are our own double-precision polynomials written with
// explicit fma, so every backend computes bit-identical floats (vendor libm
// results differ in the last ulp between CPU and GPU).
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define TESSERA_HD __host__ __device__ __forceinline__
#else
#define TESSERA_HD inline
#endif

namespace tessera {

struct Philox4 {
  uint32_t v[4];
};

TESSERA_HD uint32_t philox_mulhi(uint32_t a, uint32_t b) { return uint32_t((uint64_t(a) * b) >> 32); }

TESSERA_HD Philox4 philox4x32_10(uint64_t block, uint64_t seed) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0 = uint32_t(block), c1 = uint32_t(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0 = philox_mulhi(M0, c0), lo0 = M0 * c0;
    uint32_t hi1 = philox_mulhi(M1, c2), lo1 = M1 * c2;
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += W0; k1 += W1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

TESSERA_HD double philox_uniform_d(uint32_t x) { return (double(x >> 8) + 0.5) * (1.0 / 16777216.0); }

// ln(u) for u in (0, 1]: u = m * 2^e with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), series to s^23.
TESSERA_HD double philox_log(double u) {
  int e = 0;
  double m = u;
  while (m < 0.7071067811865476) { m *= 2.0; --e; }
  double s = (m - 1.0) / (m + 1.0);
  double s2 = s * s;
  double p = 1.0 / 23.0;
  p = fma(p, s2, 1.0 / 21.0); p = fma(p, s2, 1.0 / 19.0); p = fma(p, s2, 1.0 / 17.0);
  p = fma(p, s2, 1.0 / 15.0); p = fma(p, s2, 1.0 / 13.0); p = fma(p, s2, 1.0 / 11.0);
  p = fma(p, s2, 1.0 / 9.0);  p = fma(p, s2, 1.0 / 7.0);  p = fma(p, s2, 1.0 / 5.0);
  p = fma(p, s2, 1.0 / 3.0);  p = fma(p, s2, 1.0);
  double ln_m = 2.0 * s * p;
  return fma(double(e), 0.6931471805599453, ln_m);
}

// sin and cos of 2 pi u for u in (0, 1): u = q/4 + r, |r| <= 1/8 (exact in double),
// theta = 2 pi r in [-pi/4, pi/4], Taylor series to theta^17 / theta^18.
TESSERA_HD void philox_sincos_2pi(double u, double* sn, double* cs) {
  double qd = floor(u * 4.0 + 0.5);
  double r = u - qd * 0.25;
  int q = int(qd) & 3;
  double t = r * 6.283185307179586;
  double t2 = t * t;
  // sin: t - t^3/3! + ... + t^17/17!
  double s = 1.0 / 355687428096000.0;                  // 1/17!
  s = fma(s, -t2, 1.0 / 1307674368000.0);              // 1/15!
  s = fma(s, -t2, 1.0 / 6227020800.0);                 // 1/13!
  s = fma(s, -t2, 1.0 / 39916800.0);                   // 1/11!
  s = fma(s, -t2, 1.0 / 362880.0);                     // 1/9!
  s = fma(s, -t2, 1.0 / 5040.0);                       // 1/7!
  s = fma(s, -t2, 1.0 / 120.0);                        // 1/5!
  s = fma(s, -t2, 1.0 / 6.0);                          // 1/3!
  s = fma(s, -t2, 1.0);
  double sin_t = s * t;
  double c = 1.0 / 6402373705728000.0;                 // 1/18!
  c = fma(c, -t2, 1.0 / 20922789888000.0);             // 1/16!
  c = fma(c, -t2, 1.0 / 87178291200.0);                // 1/14!
  c = fma(c, -t2, 1.0 / 479001600.0);                  // 1/12!
  c = fma(c, -t2, 1.0 / 3628800.0);                    // 1/10!
  c = fma(c, -t2, 1.0 / 40320.0);                      // 1/8!
  c = fma(c, -t2, 1.0 / 720.0);                        // 1/6!
  c = fma(c, -t2, 1.0 / 24.0);                         // 1/4!
  c = fma(c, -t2, 1.0 / 2.0);                          // 1/2!
  double cos_t = fma(c, -t2, 1.0);
  switch (q) {  // angle = q * pi/2 + theta
    case 0: *sn = sin_t; *cs = cos_t; break;
    case 1: *sn = cos_t; *cs = -sin_t; break;
    case 2: *sn = -sin_t; *cs = -cos_t; break;
    default: *sn = -cos_t; *cs = sin_t; break;
  }
}

// Standard normal sample number `index` of the stream `seed`.
TESSERA_HD float philox_normal_at(uint64_t seed, uint64_t index) {
  Philox4 r = philox4x32_10(index >> 2, seed);
  int lane = int(index & 3);
  int pair = lane >> 1;
  double u1 = philox_uniform_d(r.v[2 * pair]);
  double u2 = philox_uniform_d(r.v[2 * pair + 1]);
  double radius = sqrt(-2.0 * philox_log(u1));
  double sn, cs;
  philox_sincos_2pi(u2, &sn, &cs);
  return float((lane & 1) ? radius * sn : radius * cs);
}

TESSERA_HD float philox_uniform_at(uint64_t seed, uint64_t index) {
  Philox4 r = philox4x32_10(index >> 2, seed);
  return float(philox_uniform_d(r.v[index & 3]));
}

// Bulk CPU fills (multithreaded; results independent of thread count).
void philox_randn(uint64_t seed, uint64_t offset, float* out, int64_t n);
void philox_uniform(uint64_t seed, uint64_t offset, float* out, int64_t n);

}  // namespace tessera
