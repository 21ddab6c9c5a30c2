// Parity: cuda/random.cu fills are bit-identical to Tensor::randn / Tensor::rand.
#include <cstring>
#include <vector>

#include "core/tensor.h"
#include "random.h"
#include "tests/check.h"

using tessera::Tensor;

namespace {

struct Case3 {
  uint64_t seed, offset;
  int64_t n;
};
const Case3 kCases[] = {{0, 0, 1}, {1, 0, 1000}, {42, 3, 777}, {7, 1, 4099}, {123456789012345ull, 5, 513},
                        {0xffffffffffffull, 2, 61}, {9, 1ull << 33, 130}, {3, 4, 10007}};

template <class Fill, class Ref>
void check_fill(Fill fill, Ref ref) {
  for (const auto& c : kCases) {
    Tensor t = ref(c);
    float* d = nullptr;
    CHECK(cudaMalloc(reinterpret_cast<void**>(&d), size_t(c.n) * sizeof(float)) == cudaSuccess);
    fill(d, c.n, c.seed, c.offset, cudaStream_t(0));
    std::vector<float> h(size_t(c.n));
    CHECK(cudaMemcpy(h.data(), d, size_t(c.n) * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    cudaFree(d);
    // tolerance: none — bitwise equality
    const bool same = std::memcmp(h.data(), t.f32(), size_t(c.n) * sizeof(float)) == 0;
    if (!same) std::printf("  mismatch: seed %llu offset %llu n %lld\n", (unsigned long long)c.seed,
                           (unsigned long long)c.offset, (long long)c.n);
    CHECK(same);
  }
}

}  // namespace

TEST_CASE(randn_bit_identical) {
  check_fill(tessera::cuda::randn_fill, [](const Case3& c) { return Tensor::randn({c.n}, c.seed, c.offset); });
}

TEST_CASE(uniform_bit_identical) {
  check_fill(tessera::cuda::uniform_fill, [](const Case3& c) { return Tensor::rand({c.n}, c.seed, c.offset); });
}

TEST_MAIN()
