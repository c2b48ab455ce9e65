// AVX2+FMA GEMM kernels: a 6x16 micro-tile (12 ymm accumulators, 2 B vectors, 1 broadcast).
// Every function carries its own target attribute (see gemm_avx512.cc).
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>

#include "gemm_kernels.h"
#include "simd_transpose.h"

#define STRATA_AVX2 __attribute__((target("avx2,fma")))

namespace strata {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;

// Lane mask with the first n (clamped to [0, 8]) lanes set, for maskload/maskstore.
STRATA_AVX2 inline __m256i lane_mask(int64_t n) {
  const int64_t m = std::clamp<int64_t>(n, 0, 8);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(m)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

STRATA_AVX2 void pack_a(const float* a, int64_t lda, bool trans, int64_t rows, int64_t kc,
                        float* dst) {
  const __m256i six = lane_mask(kMr);
  for (int64_t i0 = 0; i0 < rows; i0 += kMr, dst += kMr * kc) {
    const int64_t r = std::min<int64_t>(kMr, rows - i0);
    if (trans) {  // op(A)(i, k) = a[k*lda + i]
      const float* src = a + i0;
      const __m256i mask = lane_mask(r);
      for (int64_t k = 0; k < kc; ++k) {
        _mm256_maskstore_ps(dst + k * kMr, six, _mm256_maskload_ps(src + k * lda, mask));
      }
      continue;
    }
    const float* src = a + i0 * lda;  // op(A)(i, k) = src[i*lda + k]
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 v[8];
      for (int i = 0; i < 8; ++i) v[i] = i < r ? _mm256_loadu_ps(src + i * lda + k) : _mm256_setzero_ps();
      transpose8x8(v);
      for (int t = 0; t < 8; ++t) _mm256_maskstore_ps(dst + (k + t) * kMr, six, v[t]);
    }
    for (; k < kc; ++k) {
      for (int64_t i = 0; i < kMr; ++i) dst[k * kMr + i] = i < r ? src[i * lda + k] : 0.0f;
    }
  }
}

STRATA_AVX2 void pack_b(const float* b, int64_t ldb, bool trans, int64_t kc, int64_t cols,
                        float* dst) {
  for (int64_t j0 = 0; j0 < cols; j0 += kNr, dst += kNr * kc) {
    const int64_t c = std::min<int64_t>(kNr, cols - j0);
    if (!trans) {  // op(B)(k, j) = b[k*ldb + j]
      const float* src = b + j0;
      const __m256i m0 = lane_mask(c), m1 = lane_mask(c - 8);
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * ldb;
        _mm256_store_ps(dst + k * kNr, _mm256_maskload_ps(s, m0));
        _mm256_store_ps(dst + k * kNr + 8, c > 8 ? _mm256_maskload_ps(s + 8, m1) : _mm256_setzero_ps());
      }
      continue;
    }
    const float* src = b + j0 * ldb;  // op(B)(k, j) = src[j*ldb + k]
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      for (int g = 0; g < 2; ++g) {
        __m256 v[8];
        for (int i = 0; i < 8; ++i) {
          const int64_t j = g * 8 + i;
          v[i] = j < c ? _mm256_loadu_ps(src + j * ldb + k) : _mm256_setzero_ps();
        }
        transpose8x8(v);
        for (int t = 0; t < 8; ++t) _mm256_store_ps(dst + (k + t) * kNr + g * 8, v[t]);
      }
    }
    for (; k < kc; ++k) {
      for (int64_t j = 0; j < kNr; ++j) dst[k * kNr + j] = j < c ? src[j * ldb + k] : 0.0f;
    }
  }
}

STRATA_AVX2 void micro(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                       int mr_used, int nr_used, float alpha, float beta, const float* /*prefetch*/, int64_t /*prefetch_lines*/) {
  __m256 acc[kMr][2];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
    a += kMr;
    b += kNr;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
  if (mr_used == kMr && nr_used == kNr) {
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      float* row = c + i * ldc;
      for (int v = 0; v < 2; ++v) {
        __m256 out = _mm256_mul_ps(acc[i][v], va);
        if (beta != 0.0f) out = _mm256_fmadd_ps(_mm256_loadu_ps(row + v * 8), vb, out);
        _mm256_storeu_ps(row + v * 8, out);
      }
    }
    return;
  }
  const __m256i masks[2] = {lane_mask(nr_used), lane_mask(nr_used - 8)};
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
    if (i >= mr_used) break;
    float* row = c + i * ldc;
    for (int v = 0; v < 2; ++v) {
      if (nr_used <= v * 8) break;
      __m256 out = _mm256_mul_ps(acc[i][v], va);
      if (beta != 0.0f) out = _mm256_fmadd_ps(_mm256_maskload_ps(row + v * 8, masks[v]), vb, out);
      _mm256_maskstore_ps(row + v * 8, masks[v], out);
    }
  }
}

// Output blocks of this many columns keep their partial sums in L1 while rows of mat stream past.
constexpr int64_t kGemvBlock = 1024;

STRATA_AVX2 inline float horizontal_sum(__m256 v) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

template <int M>
STRATA_AVX2 void gemv_rows_m(int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
                             int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  alignas(32) float acc[M][kGemvBlock];
  for (int64_t j0 = 0; j0 < n; j0 += kGemvBlock) {
    const int64_t w = std::min(kGemvBlock, n - j0);
    const int64_t w8 = w & ~int64_t{7};
    for (int i = 0; i < M; ++i) std::fill(acc[i], acc[i] + w, 0.0f);
    const float* base = mat + j0;
    int64_t kk = 0;
    for (; kk + 2 <= k; kk += 2) {
      __m256 xv[M][2];
      for (int i = 0; i < M; ++i) {
        xv[i][0] = _mm256_set1_ps(x[i * ldx + kk]);
        xv[i][1] = _mm256_set1_ps(x[i * ldx + kk + 1]);
      }
      const float* r0 = base + kk * ld;
      const float* r1 = r0 + ld;
      for (int64_t j = 0; j < w8; j += 8) {
        const __m256 b0 = _mm256_loadu_ps(r0 + j), b1 = _mm256_loadu_ps(r1 + j);
#pragma GCC unroll 4
        for (int i = 0; i < M; ++i) {
          __m256 s = _mm256_load_ps(acc[i] + j);
          s = _mm256_fmadd_ps(xv[i][0], b0, s);
          s = _mm256_fmadd_ps(xv[i][1], b1, s);
          _mm256_store_ps(acc[i] + j, s);
        }
      }
      for (int64_t j = w8; j < w; ++j) {
        for (int i = 0; i < M; ++i) {
          acc[i][j] += x[i * ldx + kk] * r0[j] + x[i * ldx + kk + 1] * r1[j];
        }
      }
    }
    for (; kk < k; ++kk) {
      const float* r0 = base + kk * ld;
      for (int i = 0; i < M; ++i) {
        for (int64_t j = 0; j < w; ++j) acc[i][j] += x[i * ldx + kk] * r0[j];
      }
    }
    for (int i = 0; i < M; ++i) {
      float* yi = y + i * ldy + j0;
      for (int64_t j = 0; j < w; ++j) {
        const float v = alpha * acc[i][j];
        yi[j] = beta != 0.0f ? v + beta * yi[j] : v;
      }
    }
  }
}

template <int M, int J>
STRATA_AVX2 void gemv_dots_m(int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
                             int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  const int64_t k8 = k & ~int64_t{7};
  for (int64_t j = 0; j < n; j += J) {
    const int rows = static_cast<int>(std::min<int64_t>(J, n - j));
    const float* r[J];
    for (int t = 0; t < J; ++t) r[t] = mat + (j + std::min(t, rows - 1)) * ld;
    __m256 s[M][J];
    for (int i = 0; i < M; ++i) {
      for (int t = 0; t < J; ++t) s[i][t] = _mm256_setzero_ps();
    }
    for (int64_t kk = 0; kk < k8; kk += 8) {
      __m256 xv[M];
      for (int i = 0; i < M; ++i) xv[i] = _mm256_loadu_ps(x + i * ldx + kk);
#pragma GCC unroll 8
      for (int t = 0; t < J; ++t) {
        const __m256 bv = _mm256_loadu_ps(r[t] + kk);
        for (int i = 0; i < M; ++i) s[i][t] = _mm256_fmadd_ps(xv[i], bv, s[i][t]);
      }
    }
    for (int i = 0; i < M; ++i) {
      for (int t = 0; t < rows; ++t) {
        float sum = horizontal_sum(s[i][t]);
        for (int64_t kk = k8; kk < k; ++kk) sum += x[i * ldx + kk] * r[t][kk];
        const float v = alpha * sum;
        float* out = y + i * ldy + j + t;
        *out = beta != 0.0f ? v + beta * *out : v;
      }
    }
  }
}

void gemv_rows(int m, int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
               int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  switch (m) {
    case 1: return gemv_rows_m<1>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 2: return gemv_rows_m<2>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 3: return gemv_rows_m<3>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 4: return gemv_rows_m<4>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    default:  // more rows than registers: two passes over mat (the caller keeps it in L2)
      gemv_rows_m<4>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
      return gemv_rows(m - 4, k, n, x + 4 * ldx, ldx, mat, ld, y + 4 * ldy, ldy, alpha, beta);
  }
}

void gemv_dots(int m, int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
               int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  switch (m) {
    case 1: return gemv_dots_m<1, 8>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 2: return gemv_dots_m<2, 4>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 3: return gemv_dots_m<3, 3>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 4: return gemv_dots_m<4, 2>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    default:
      gemv_dots_m<4, 2>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
      return gemv_dots(m - 4, k, n, x + 4 * ldx, ldx, mat, ld, y + 4 * ldy, ldy, alpha, beta);
  }
}

}  // namespace

const GemmKernels kGemmKernelsAvx2 = {
    "avx2", kMr, kNr, /*kc=*/256, /*mc=*/144, /*nc=*/1024, pack_a, pack_b, micro, gemv_rows, gemv_dots,
};

}  // namespace strata

#endif  // x86
