// Core pieces without the op table: Philox, dtype conversion, tensor views, thread pool.
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_allocator.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/philox.h"
#include "core/tensor.h"
#include "core/threadpool.h"
#include "tests/check.h"

using namespace tessera;

// Known-answer vectors from the Random123 distribution (kat_vectors, philox4x32_10).
TEST_CASE(philox_known_answers) {
  Philox4 r = philox4x32_10(0, 0);
  CHECK(r.v[0] == 0x6627e8d5u && r.v[1] == 0xe169c58du && r.v[2] == 0xbc57ac4cu && r.v[3] == 0x9b00dbd8u);
}

// randn(seed, offset) is a window onto one stream, whatever the thread count.
TEST_CASE(randn_offsets_and_threads_agree) {
  set_num_threads(1);
  Tensor whole = Tensor::randn({1001}, 7, 0);
  set_num_threads(2);
  Tensor tail = Tensor::randn({990}, 7, 11);
  Tensor again = Tensor::randn({1001}, 7, 0);
  set_num_threads(0);
  CHECK(std::memcmp(whole.f32() + 11, tail.f32(), 990 * 4) == 0);
  CHECK(std::memcmp(whole.f32(), again.f32(), 1001 * 4) == 0);
}

// 200k samples: mean within 0.01, variance within 0.01 of 1, P(|z| > 1.96) near 5%.
TEST_CASE(randn_statistics) {
  Tensor z = Tensor::randn({200000}, 123, 5);
  double m = 0, v = 0, tail = 0;
  for (int64_t i = 0; i < z.numel(); ++i) {
    double x = z.f32()[i];
    m += x;
    v += x * x;
    tail += std::fabs(x) > 1.96;
  }
  m /= z.numel();
  v = v / z.numel() - m * m;
  CHECK_NEAR(m, 0.0, 0.01);
  CHECK_NEAR(v, 1.0, 0.01);
  CHECK_NEAR(tail / z.numel(), 0.05, 0.003);
}

TEST_CASE(half_and_bfloat_conversions) {
  // Exact values, rounding to nearest even, overflow, subnormals.
  CHECK(f32_to_f16(1.0f) == 0x3c00);
  CHECK(f32_to_f16(-2.0f) == 0xc000);
  CHECK(f32_to_f16(65504.0f) == 0x7bff);
  CHECK(f32_to_f16(65520.0f) == 0x7c00);
  CHECK(f32_to_f16(5.960464477539063e-08f) == 0x0001);
  CHECK(f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);   // tie rounds to even
  CHECK(f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);   // tie rounds to even (up)
  CHECK(f16_to_f32(0x3555) == 0.333251953125f);
  CHECK(f16_to_f32(0x0001) == 5.960464477539063e-08f);
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(f32_to_bf16(1.00390625f) == 0x3f80);          // tie to even
  CHECK(f32_to_bf16(1.01171875f) == 0x3f82);          // tie to even (up)
  CHECK(bf16_to_f32(0x4049) == 3.140625f);
  CHECK(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  // Round trip of every f16 value that is finite.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if (((h >> 10) & 0x1f) == 0x1f) continue;
    if (f32_to_f16(f16_to_f32(uint16_t(h))) != h) {
      CHECK(false);
      break;
    }
  }
  Tensor t = Tensor::randn({37}, 1);
  Tensor b = t.to(DType::BF16).to(DType::F32);
  for (int i = 0; i < 37; ++i) CHECK_NEAR(b.f32()[i], t.f32()[i], std::fabs(t.f32()[i]) / 256 + 1e-30);
}

TEST_CASE(tensor_views_share_storage) {
  Tensor t = Tensor::randn({2, 3, 5}, 3);
  Tensor p = t.permute({2, 0, 1});
  CHECK(!p.is_contiguous());
  CHECK(p.shape() == Shape({5, 2, 3}));
  Tensor c = p.contiguous();
  for (int a = 0; a < 5; ++a)
    for (int b = 0; b < 2; ++b)
      for (int k = 0; k < 3; ++k) CHECK(c.f32()[(a * 2 + b) * 3 + k] == t.f32()[(b * 3 + k) * 5 + a]);
  Tensor s = t.slice(2, 1, 5, 2);  // columns 1 and 3
  Tensor sc = s.contiguous();
  CHECK(sc.shape() == Shape({2, 3, 2}));
  CHECK(sc.f32()[1] == t.f32()[3]);
  CHECK(t.reshape({6, -1}).shape() == Shape({6, 5}));
  CHECK(reinterpret_cast<uintptr_t>(Tensor::empty({3}).raw_data()) % 64 == 0);
  bool threw = false;
  try {
    t.reshape({4, 4});
  } catch (const Error& e) {
    threw = e.code() == ErrorCode::ShapeMismatch;
  }
  CHECK(threw);
}

TEST_CASE(parallel_for_covers_range_once) {
  set_num_threads(2);
  std::vector<int> hits(100003, 0);
  parallel_for(int64_t(hits.size()), 7, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i]++;
  });
  bool once = true;
  for (int h : hits) once = once && h == 1;
  CHECK(once);
  // Exceptions inside workers reach the caller.
  bool caught = false;
  try {
    parallel_for(1000, 1, [&](int64_t b, int64_t) {
      if (b > 500) fail(ErrorCode::InvalidArgument, "boom");
    });
  } catch (const Error&) {
    caught = true;
  }
  CHECK(caught);
  set_num_threads(0);
}

// Back-to-back tiny regions, with 4 threads on however many cores: a worker still
// leaving one region must never touch the next one's counters (that once lost a
// chunk's "done" and hung the caller forever, seen in VAE training). Every region
// must complete with each index covered exactly once.
TEST_CASE(parallel_for_back_to_back_regions_never_hang) {
  set_num_threads(4);
  bool ok = true;
  for (int r = 0; r < 200000 && ok; ++r) {
    std::atomic<int64_t> sum{0};
    const int64_t n = 2 + r % 7;
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum += i + 1;
    });
    ok = sum.load() == n * (n + 1) / 2;
  }
  CHECK(ok);
  set_num_threads(0);
}

// Freed storage is kept for reuse (no page faults on the next step's tensors).
TEST_CASE(caching_allocator_reuses_blocks) {
  cpu_empty_cache();
  void* first;
  {
    Tensor t = Tensor::empty({1000, 1000});
    first = t.raw_data();
  }
  CHECK(cpu_cached_bytes() >= 4000000);
  Tensor u = Tensor::empty({999, 1001});  // same size class
  CHECK(u.raw_data() == first);
  CHECK(cpu_cached_bytes() == 0);
}

TEST_MAIN()
