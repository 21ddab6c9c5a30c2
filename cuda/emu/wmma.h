// cuda/emu/wmma.h — nvcuda::wmma (tensor-core fragment API) on the CPU.
//
// The fragment layout is opaque in CUDA (code may only touch frag.x[i] element-wise,
// for i < frag.num_elements), so here every lane holds the whole tile in row-major
// order: element (r, c) is x[r * cols + c]. Element-wise code is therefore correct.
// Every *_sync call is warp-collective: it first rendezvouses all 32 lanes of the
// warp (a full warp is required, as on hardware). load/fill/mma then work on the
// lane's private copy; store_matrix_sync writes element i from lane i % 32 only, so
// the lanes write disjoint elements as they do on the GPU (and TSan sees no false
// write-write race). mma_sync accumulates in fp32, k ascending, then rounds to the
// accumulator type.
#pragma once

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
template <class Use, int M, int N, int K>
struct dims;
template <int M, int N, int K>
struct dims<matrix_a, M, N, K> { static constexpr int rows = M, cols = K; };
template <int M, int N, int K>
struct dims<matrix_b, M, N, K> { static constexpr int rows = K, cols = N; };
template <int M, int N, int K>
struct dims<accumulator, M, N, K> { static constexpr int rows = M, cols = N; };

inline float to_f(float v) { return v; }
inline float to_f(__half v) { return __half2float(v); }
inline float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> inline T from_f(float v);
template <> inline float from_f<float>(float v) { return v; }
template <> inline __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> inline __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

inline void rendezvous(const char* what) {
  ::tessera_emu::warp_collective(::tessera_emu::WarpOp::Wmma, 0xffffffffu, 0, 0, 32, what);
}
}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment {
 public:
  static constexpr int rows = detail::dims<Use, M, N, K>::rows;
  static constexpr int cols = detail::dims<Use, M, N, K>::cols;
  enum { num_elements = rows * cols };
  T x[num_elements];
};

template <class Use, int M, int N, int K, class T, class Layout, class V>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, const V& v) {
  detail::rendezvous("wmma::fill_fragment");
  for (int i = 0; i < f.num_elements; ++i) f.x[i] = T(v);
}

// matrix_a / matrix_b: the layout is part of the fragment type.
template <class Use, int M, int N, int K, class T, class Layout>
inline void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const T* p, unsigned ldm) {
  static_assert(std::is_same<Layout, row_major>::value || std::is_same<Layout, col_major>::value,
                "matrix_a/matrix_b fragments need row_major or col_major");
  detail::rendezvous("wmma::load_matrix_sync");
  using Fr = fragment<Use, M, N, K, T, Layout>;
  for (int r = 0; r < Fr::rows; ++r)
    for (int c = 0; c < Fr::cols; ++c)
      f.x[r * Fr::cols + c] = std::is_same<Layout, row_major>::value ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}

// accumulator: the layout is a run-time argument.
template <int M, int N, int K, class T>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm, layout_t layout) {
  detail::rendezvous("wmma::load_matrix_sync");
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c)
      f.x[r * N + c] = layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}

template <int M, int N, int K, class T>
inline void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm, layout_t layout) {
  detail::rendezvous("wmma::store_matrix_sync");
  const unsigned lane = ::tessera_emu::t_view->lane;
  for (int i = (int)lane; i < M * N; i += 32) {
    const int r = i / N, c = i % N;
    (layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r]) = f.x[i];
  }
}

template <int M, int N, int K, class TA, class LA, class TB, class LB, class TC, class TD>
inline void mma_sync(fragment<accumulator, M, N, K, TD>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, TC>& c) {
  detail::rendezvous("wmma::mma_sync");
  float out[M * N];  // d may alias c
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      float acc = detail::to_f(c.x[m * N + n]);
      for (int k = 0; k < K; ++k) acc = fmaf(detail::to_f(a.x[m * K + k]), detail::to_f(b.x[k * N + n]), acc);
      out[m * N + n] = acc;
    }
  for (int i = 0; i < M * N; ++i) d.x[i] = detail::from_f<TD>(out[i]);
}

}  // namespace wmma
}  // namespace nvcuda
