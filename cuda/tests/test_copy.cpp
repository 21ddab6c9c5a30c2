// Parity: cuda/copy.cu against the CPU shape ops permute / slice / pad / concat
// (op table, native/ops/shape.cpp): forward and backward, rank 0 to 5, negative
// dims, steps, Python slice bounds, pads in F.pad order, concat of empty inputs and
// of more than one launch's worth (32) of inputs, transposing permutes (tiled
// kernel) and sizes spanning many blocks. Pure data movement: every value must be
// bit-identical.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "copy.h"
#include "core/op.h"
#include "core/tensor.h"
#include "parity.h"
#include "tests/check.h"

using tessera::Shape;
using tessera::Tensor;
using tessera_parity::Dev;
using tessera_parity::randv;
namespace cu = tessera::cuda;

namespace {

using tessera::shape_numel;
using tessera_parity::host;

int64_t not_bitwise(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1 << 30;
  int64_t c = 0;
  for (size_t i = 0; i < a.size(); ++i) c += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return c;
}

Tensor rand_tensor(const Shape& s, uint64_t seed) { return Tensor::from_f32(randv(shape_numel(s), seed).data(), s); }

int g_cases = 0;
int64_t g_bad = 0;

void report(const char* what, const std::string& detail, const Shape& out, int64_t bf, int64_t bb) {
  std::printf("  %s %s -> %s: fwd %lld, bwd %lld entries differ\n", what, detail.c_str(),
              tessera::shape_str(out).c_str(), (long long)bf, (long long)bb);
  ++g_cases;
  g_bad += bf + bb;
  CHECK(bf == 0);
  CHECK(bb == 0);
}

std::string list(const std::vector<int64_t>& v) {
  std::string r = "[";
  for (size_t i = 0; i < v.size(); ++i) r += (i ? "," : "") + std::to_string(v[i]);
  return r + "]";
}

void run_permute(const Shape& xs, const std::vector<int64_t>& dims, uint64_t seed) {
  Tensor X = rand_tensor(xs, seed);
  const Shape ys = cu::permute_output_shape(xs.data(), int(xs.size()), dims.data());
  Tensor G = rand_tensor(ys, seed + 1);
  std::vector<Tensor> outs;
  auto grads = tessera::run_op_backward("permute", {X}, {{"dims", dims}}, {G}, &outs);
  CHECK(outs[0].shape() == ys);
  Dev dx(host(X)), dg(host(G)), dy(static_cast<size_t>(shape_numel(ys))), dgx(static_cast<size_t>(shape_numel(xs)));
  cu::permute_forward(dx.p, xs.data(), int(xs.size()), dims.data(), dy.p, 0);
  cu::permute_backward(dg.p, xs.data(), int(xs.size()), dims.data(), dgx.p, 0);
  report("permute", tessera::shape_str(xs) + " dims " + list(dims), ys, not_bitwise(dy.get(), host(outs[0])),
         not_bitwise(dgx.get(), host(grads[0])));
}

// has_end = false: the op's end is absent (cuda: kSliceEnd)
void run_slice(const Shape& xs, int64_t dim, int64_t start, bool has_end, int64_t end, int64_t step, uint64_t seed) {
  Tensor X = rand_tensor(xs, seed);
  const int64_t e = has_end ? end : cu::kSliceEnd;
  const Shape ys = cu::slice_output_shape(xs.data(), int(xs.size()), dim, start, e, step);
  Tensor G = rand_tensor(ys, seed + 1);
  tessera::OpParams params{{"dim", double(dim)}, {"start", double(start)}, {"step", double(step)}};
  if (has_end) params.set("end", double(end));
  std::vector<Tensor> outs;
  auto grads = tessera::run_op_backward("slice", {X}, params, {G}, &outs);
  CHECK(outs[0].shape() == ys);
  Dev dx(host(X)), dg(host(G)), dy(static_cast<size_t>(shape_numel(ys))), dgx(static_cast<size_t>(shape_numel(xs)));
  cu::slice_forward(dx.p, xs.data(), int(xs.size()), dim, start, e, step, dy.p, 0);
  cu::slice_backward(dg.p, xs.data(), int(xs.size()), dim, start, e, step, dgx.p, 0);
  report("slice", tessera::shape_str(xs) + " dim " + std::to_string(dim) + " [" + std::to_string(start) + ":" +
                      (has_end ? std::to_string(end) : std::string()) + ":" + std::to_string(step) + "]",
         ys, not_bitwise(dy.get(), host(outs[0])), not_bitwise(dgx.get(), host(grads[0])));
}

void run_pad(const Shape& xs, const std::vector<int64_t>& pads, float value, uint64_t seed) {
  Tensor X = rand_tensor(xs, seed);
  const Shape ys = cu::pad_output_shape(xs.data(), int(xs.size()), pads.data(), int(pads.size()));
  Tensor G = rand_tensor(ys, seed + 1);
  std::vector<Tensor> outs;
  auto grads = tessera::run_op_backward("pad", {X}, {{"pads", pads}, {"value", double(value)}}, {G}, &outs);
  CHECK(outs[0].shape() == ys);
  Dev dx(host(X)), dg(host(G)), dy(static_cast<size_t>(shape_numel(ys))), dgx(static_cast<size_t>(shape_numel(xs)));
  cu::pad_forward(dx.p, xs.data(), int(xs.size()), pads.data(), int(pads.size()), value, dy.p, 0);
  cu::pad_backward(dg.p, xs.data(), int(xs.size()), pads.data(), int(pads.size()), dgx.p, 0);
  report("pad", tessera::shape_str(xs) + " pads " + list(pads) + " value " + std::to_string(value), ys,
         not_bitwise(dy.get(), host(outs[0])), not_bitwise(dgx.get(), host(grads[0])));
}

// Inputs have `shape` except sizes[k] along dim.
void run_concat(Shape shape, const std::vector<int64_t>& sizes, int64_t dim, uint64_t seed) {
  const int nd = int(shape.size());
  const int d = int(dim < 0 ? dim + nd : dim);
  std::vector<Tensor> xs;
  std::vector<std::unique_ptr<Dev>> dxs, dgxs;
  std::vector<const float*> xp;
  std::vector<float*> gp;
  for (size_t k = 0; k < sizes.size(); ++k) {
    Shape s = shape;
    s[size_t(d)] = sizes[k];
    xs.push_back(rand_tensor(s, seed + k));
    dxs.emplace_back(new Dev(host(xs.back())));
    dgxs.emplace_back(new Dev(static_cast<size_t>(shape_numel(s))));
    xp.push_back(dxs.back()->p);
    gp.push_back(k == 1 ? nullptr : dgxs.back()->p);  // input 1's gradient not wanted
  }
  Shape ys = shape;
  ys[size_t(d)] = 0;
  for (int64_t s : sizes) ys[size_t(d)] += s;
  Tensor G = rand_tensor(ys, seed + 100);
  std::vector<Tensor> outs;
  auto grads = tessera::run_op_backward("concat", xs, {{"dim", double(dim)}}, {G}, &outs);
  CHECK(outs[0].shape() == ys);
  Dev dg(host(G)), dy(static_cast<size_t>(shape_numel(ys)));
  cu::concat_forward(xp.data(), int(sizes.size()), shape.data(), nd, sizes.data(), dim, dy.p, 0);
  cu::concat_backward(dg.p, int(sizes.size()), shape.data(), nd, sizes.data(), dim, gp.data(), 0);
  int64_t bb = 0;
  for (size_t k = 0; k < sizes.size(); ++k)
    if (k != 1) bb += not_bitwise(dgxs[k]->get(), host(grads[k]));
  report("concat", std::to_string(sizes.size()) + " x " + tessera::shape_str(shape) + " sizes " +
                       (sizes.size() > 8 ? std::string("[...]") : list(sizes)) + " dim " + std::to_string(dim),
         ys, not_bitwise(dy.get(), host(outs[0])), bb);
}

}  // namespace

TEST_CASE(copy_permute) {
  run_permute({3, 5, 7}, {2, 0, 1}, 10);
  run_permute({3, 5, 7}, {0, -1, 1}, 11);          // innermost changes, short dims: gather
  run_permute({4, 33, 40}, {0, 2, 1}, 12);         // tiled transpose
  run_permute({2, 3, 9, 10, 11}, {0, 4, 2, 1, 3}, 13);  // rank 5, tiled with mixed outer dims
  run_permute({2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}, 14);
  run_permute({70, 300}, {1, 0}, 15);              // 21000 elements, 30 tiles
  run_permute({7}, {0}, 16);                       // rank 1
  run_permute({}, {}, 17);                         // 0-d
  run_permute({1, 5, 1, 7}, {3, 2, 1, 0}, 18);     // size-1 dims
}

TEST_CASE(copy_slice) {
  run_slice({3, 5, 7}, 1, 1, true, 4, 2, 20);
  run_slice({3, 5, 7}, -1, -5, false, 0, 3, 21);   // negative start, no end
  run_slice({3, 5, 7}, 0, 2, true, 1, 1, 22);      // start > end: empty
  run_slice({3, 5, 7}, 2, 0, false, 0, 1, 23);     // everything
  run_slice({3, 5, 7}, 1, -100, true, 100, 2, 24); // clamped bounds
  run_slice({7}, 0, 2, true, -1, 1, 25);           // rank 1
  run_slice({2, 3, 4, 5, 6}, 3, 1, true, 5, 3, 26);  // rank 5
  run_slice({5, 3000}, 1, 7, true, -3, 4, 27);     // many blocks
  run_slice({4, 6, 1}, 1, 5, false, 0, 7, 28);     // one element along dim
}

TEST_CASE(copy_pad) {
  run_pad({3, 5, 7}, {1, 2}, 0.5f, 30);
  run_pad({3, 5, 7}, {0, 1, 2, 0, 1, 1}, -1.0f, 31);
  run_pad({7}, {3, 0}, 0.0f, 32);                  // rank 1
  run_pad({}, {}, 2.0f, 33);                       // 0-d
  run_pad({2, 3, 4, 5, 6}, {1, 1, 0, 2}, 3.0f, 34); // rank 5
  run_pad({3, 5}, {}, 1.0f, 35);                   // no padding
  run_pad({40, 300}, {5, 7, 3, 2}, -2.5f, 36);     // many blocks
  run_pad({2, 0, 3}, {1, 1, 0, 2}, 4.0f, 37);      // empty input: all value
}

TEST_CASE(copy_concat) {
  run_concat({3, 0, 7}, {5, 2}, 1, 40);
  run_concat({0, 5, 7}, {3, 1, 2}, 0, 41);
  run_concat({3, 5, 0}, {7, 0, 4}, -1, 42);        // an empty input
  run_concat({0}, {7, 4}, 0, 43);                  // rank 1
  run_concat({2, 3, 0, 5, 6}, {4, 1}, 2, 44);      // rank 5
  std::vector<int64_t> many;
  for (int k = 0; k < 40; ++k) many.push_back(1 + k % 3);
  run_concat({3, 0, 5}, many, 1, 45);              // 40 inputs: two launches
  run_concat({60, 0}, {300, 1, 299}, 1, 46);       // many blocks
}

TEST_CASE(copy_strided_copy) {
  // generic strided copy: write a [3, 4] block into a [5, 9] buffer transposed
  std::vector<float> src = randv(12, 50);
  Dev s(src), d(std::vector<float>(45, 0.0f));
  const int64_t shape[2] = {3, 4}, ss[2] = {4, 1}, ds[2] = {1, 9};
  cu::strided_copy(s.p, ss, d.p + 10, ds, shape, 2, 0);
  std::vector<float> out = d.get();
  int bad = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) bad += out[size_t(10 + i + 9 * j)] != src[size_t(4 * i + j)];
  int zeros = 0;
  for (float v : out) zeros += v == 0.0f;
  CHECK(bad == 0);
  CHECK(zeros == 45 - 12);
}

TEST_CASE(copy_invalid_arguments) {
  Shape xs{3, 4};
  auto msg = [](auto fn) {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no exception)");
  };
  auto has = [](const std::string& s, const char* t) { return s.find(t) != std::string::npos; };
  const std::vector<int64_t> rep{1, 1}, bad{0, 2}, odd{1}, neg{-1, 0}, many{1, 1, 1, 1, 1, 1};
  CHECK(has(msg([&] { cu::permute_output_shape(xs.data(), 2, rep.data()); }), "appears more than once"));
  CHECK(has(msg([&] { cu::permute_output_shape(xs.data(), 2, bad.data()); }), "dims entry 2 is out of range"));
  CHECK(has(msg([&] { cu::slice_output_shape(xs.data(), 2, 2, 0, 1, 1); }), "dim 2 is out of range"));
  CHECK(has(msg([&] { cu::slice_output_shape(xs.data(), 2, 0, 0, 1, 0); }), "step 0 must be >= 1"));
  CHECK(has(msg([&] { cu::pad_output_shape(xs.data(), 2, odd.data(), 1); }), "even number"));
  CHECK(has(msg([&] { cu::pad_output_shape(xs.data(), 2, neg.data(), 2); }), "negative"));
  CHECK(has(msg([&] { cu::pad_output_shape(xs.data(), 2, many.data(), 6); }), "at most 4"));
  const int64_t sizes[1] = {-1};
  CHECK(has(msg([&] { cu::concat_forward(nullptr, 1, xs.data(), 2, sizes, 0, nullptr, 0); }), "must be >= 0"));
}

TEST_CASE(copy_summary) { std::printf("  %d cases, %lld entries differ\n", g_cases, (long long)g_bad); }

TEST_MAIN()
