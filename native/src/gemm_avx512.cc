// AVX-512 GEMM kernels: an 8x48 micro-tile (24 zmm accumulators, 3 B vectors, 1 broadcast).
// Every function carries its own target attribute; the rest of the addon is built for baseline
// x86-64 and only calls in here when the CPU has AVX-512 (see cpu.cc).
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>

// GCC 12 flags the deliberately undefined lanes inside some AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "gemm_kernels.h"
#include "simd_transpose.h"

#define STRATA_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

namespace strata {
namespace {

constexpr int kMr = 8;
constexpr int kNv = 3;  // zmm vectors per micro-tile row
constexpr int kNr = kNv * 16;
// Products summed in one accumulator before they land on C (see micro_nv): the other ISAs' K
// block, so every ISA rounds a long K the same way.
constexpr int64_t kChain = 256;

STRATA_AVX512 inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

STRATA_AVX512 void pack_a(const float* a, int64_t lda, bool trans, int64_t rows, int64_t kc,
                          float* dst) {
  for (int64_t i0 = 0; i0 < rows; i0 += kMr, dst += kMr * kc) {
    const int64_t r = std::min<int64_t>(kMr, rows - i0);
    if (trans) {  // op(A)(i, k) = a[k*lda + i]: each k is a contiguous run of r values
      const float* src = a + i0;
      const __mmask8 mask = static_cast<__mmask8>((1u << r) - 1u);
      for (int64_t k = 0; k < kc; ++k) {
        _mm256_store_ps(dst + k * kMr, _mm256_maskz_loadu_ps(mask, src + k * lda));
      }
      continue;
    }
    const float* src = a + i0 * lda;  // op(A)(i, k) = src[i*lda + k]: transpose 8x8 blocks
    int64_t k = 0;
    if (r == kMr) {
      for (; k + 8 <= kc; k += 8) {
        __m256 v[8];
        for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(src + i * lda + k);
        transpose8x8(v);
        for (int t = 0; t < 8; ++t) _mm256_store_ps(dst + (k + t) * kMr, v[t]);
      }
    }
    for (; k < kc; ++k) {
      for (int64_t i = 0; i < kMr; ++i) dst[k * kMr + i] = i < r ? src[i * lda + k] : 0.0f;
    }
  }
}

STRATA_AVX512 void pack_b(const float* b, int64_t ldb, bool trans, int64_t kc, int64_t cols,
                          float* dst) {
  for (int64_t j0 = 0; j0 < cols; j0 += kNr, dst += kNr * kc) {
    const int64_t c = std::min<int64_t>(kNr, cols - j0);
    if (!trans) {  // op(B)(k, j) = b[k*ldb + j]: each k is a contiguous run of c values
      const float* src = b + j0;
      const __mmask16 m0 = tail_mask(c), m1 = tail_mask(c - 16), m2 = tail_mask(c - 32);
      if (c == kNr) {
        for (int64_t k = 0; k < kc; ++k) {
          const float* s = src + k * ldb;
          _mm512_store_ps(dst + k * kNr, _mm512_loadu_ps(s));
          _mm512_store_ps(dst + k * kNr + 16, _mm512_loadu_ps(s + 16));
          _mm512_store_ps(dst + k * kNr + 32, _mm512_loadu_ps(s + 32));
        }
      } else {
        for (int64_t k = 0; k < kc; ++k) {
          const float* s = src + k * ldb;
          _mm512_store_ps(dst + k * kNr, _mm512_maskz_loadu_ps(m0, s));
          _mm512_store_ps(dst + k * kNr + 16, c > 16 ? _mm512_maskz_loadu_ps(m1, s + 16)
                                                     : _mm512_setzero_ps());
          _mm512_store_ps(dst + k * kNr + 32, c > 32 ? _mm512_maskz_loadu_ps(m2, s + 32)
                                                     : _mm512_setzero_ps());
        }
      }
      continue;
    }
    // op(B)(k, j) = b[j*ldb + k]: columns of op(B) are contiguous rows of b. Full groups of 8
    // columns go through 8x8 transposes, the rest one value at a time.
    const float* src = b + j0 * ldb;
    const int64_t full_groups = c / 8;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      for (int64_t g = 0; g < full_groups; ++g) {
        __m256 v[8];
        for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(src + (g * 8 + i) * ldb + k);
        transpose8x8(v);
        for (int t = 0; t < 8; ++t) _mm256_store_ps(dst + (k + t) * kNr + g * 8, v[t]);
      }
    }
    for (int64_t kk = 0; kk < kc; ++kk) {
      const int64_t j_start = kk < k ? full_groups * 8 : 0;
      for (int64_t j = j_start; j < kNr; ++j) dst[kk * kNr + j] = j < c ? src[j * ldb + kk] : 0.0f;
    }
  }
}

// One K step of the micro-tile: acc[i][v] += a[i] * b[v*16 .. v*16+15], then both panels advance.
template <int NV>
STRATA_AVX512 __attribute__((always_inline)) inline void micro_step(__m512 (&acc)[kMr][NV], const float*& a, const float*& b) {
  __m512 bv[NV];
#pragma GCC unroll 3
  for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + v * 16);
#pragma GCC unroll 8
  for (int i = 0; i < kMr; ++i) {
    const __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
  }
  a += kMr;
  b += kNr;
}

// C tile = alpha * acc + beta * C (beta == 0: C is not read), over the rows and columns in use.
template <int NV>
STRATA_AVX512 __attribute__((always_inline)) inline void store_tile(const __m512 (&acc)[kMr][NV], float* c, int64_t ldc,
                                                                    int mr_used, int nr_used, float alpha, float beta) {
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  if (mr_used == kMr && nr_used == NV * 16) {
#pragma GCC unroll 8
    for (int i = 0; i < kMr; ++i) {
      float* row = c + i * ldc;
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) {
        __m512 out = _mm512_mul_ps(acc[i][v], va);
        if (beta != 0.0f) out = _mm512_fmadd_ps(_mm512_loadu_ps(row + v * 16), vb, out);
        _mm512_storeu_ps(row + v * 16, out);
      }
    }
    return;
  }
  __mmask16 masks[NV];
  for (int v = 0; v < NV; ++v) masks[v] = tail_mask(nr_used - v * 16);
#pragma GCC unroll 8
  for (int i = 0; i < kMr; ++i) {
    if (i >= mr_used) break;
    float* row = c + i * ldc;
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      __m512 out = _mm512_mul_ps(acc[i][v], va);
      if (beta != 0.0f) out = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(masks[v], row + v * 16), vb, out);
      _mm512_mask_storeu_ps(row + v * 16, masks[v], out);
    }
  }
}

// The micro-kernel computes only the NV (<= kNv) column vectors of the panel that are in use, so
// a narrow last panel (N = 64 leaves 16 of 48 columns) costs in proportion to its width.
template <int NV>
STRATA_AVX512 inline void micro_nv(int64_t kc, const float* a, const float* b, float* c,
                                   int64_t ldc, int mr_used, int nr_used, float alpha, float beta,
                                   const float* prefetch, int64_t prefetch_lines) {
  // every cache line of the C tile (NV per row), so that its loads after the K loop hit L1
  // (the first line of each row alone left two thirds of them to miss: 2% of the GEMM time)
  for (int i = 0; i < mr_used; ++i) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + v * 16), _MM_HINT_T0);
  }

  // The K block goes in chains of kChain products: each chain starts its accumulators from zero
  // and then lands on C (beta for the first, 1 after), exactly as K blocks of kChain would, so a
  // longer K block sums with the same rounding while C stays in L1 between its chains.
  __m512 acc[kMr][NV];
  int64_t k = 0;
  float chain_beta = beta;
  do {
    const int64_t end = std::min(kc, k + kChain);
#pragma GCC unroll 8
    for (int i = 0; i < kMr; ++i) {
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    }
    // One prefetch per 8 steps: issued in a burst between calls they stalled on the line fill
    // buffers (3% of the GEMM's time), spread out they overlap the FMAs.
    for (; k + 8 <= end; k += 8) {
      if (prefetch_lines > 0) {
        _mm_prefetch(reinterpret_cast<const char*>(prefetch), _MM_HINT_T1);
        prefetch += 16;
        --prefetch_lines;
      }
#pragma GCC unroll 8
      for (int kk = 0; kk < 8; ++kk) micro_step<NV>(acc, a, b);
    }
    for (; k < end; ++k) micro_step<NV>(acc, a, b);
    store_tile<NV>(acc, c, ldc, mr_used, nr_used, alpha, chain_beta);
    chain_beta = 1.0f;
  } while (k < kc);
  for (; prefetch_lines > 0; --prefetch_lines, prefetch += 16) _mm_prefetch(reinterpret_cast<const char*>(prefetch), _MM_HINT_T1);
}

STRATA_AVX512 void micro(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                         int mr_used, int nr_used, float alpha, float beta, const float* prefetch,
                         int64_t prefetch_lines) {
  if (nr_used > 32) return micro_nv<3>(kc, a, b, c, ldc, mr_used, nr_used, alpha, beta, prefetch, prefetch_lines);
  if (nr_used > 16) return micro_nv<2>(kc, a, b, c, ldc, mr_used, nr_used, alpha, beta, prefetch, prefetch_lines);
  return micro_nv<1>(kc, a, b, c, ldc, mr_used, nr_used, alpha, beta, prefetch, prefetch_lines);
}

// Output blocks of this many columns keep their partial sums in L1 while rows of mat stream past.
constexpr int64_t kGemvBlock = 1024;

STRATA_AVX512 inline float horizontal_sum(__m512 v) {
  __m512 t = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  t = _mm512_add_ps(t, _mm512_shuffle_f32x4(t, t, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 q = _mm512_castps512_ps128(t);
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

// Adds x[i][kk..kk+3] * mat rows kk..kk+3 to acc[i][j] for one 16-column vector (masked).
template <int M>
STRATA_AVX512 inline void rows_step4(float (*acc)[kGemvBlock], int64_t j, __mmask16 mk,
                                     const __m512 (&xv)[M][4], const float* r0, int64_t ld) {
  const __m512 b0 = _mm512_maskz_loadu_ps(mk, r0 + j);
  const __m512 b1 = _mm512_maskz_loadu_ps(mk, r0 + ld + j);
  const __m512 b2 = _mm512_maskz_loadu_ps(mk, r0 + 2 * ld + j);
  const __m512 b3 = _mm512_maskz_loadu_ps(mk, r0 + 3 * ld + j);
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i) {
    __m512 s = _mm512_load_ps(acc[i] + j);
    s = _mm512_fmadd_ps(xv[i][0], b0, s);
    s = _mm512_fmadd_ps(xv[i][1], b1, s);
    s = _mm512_fmadd_ps(xv[i][2], b2, s);
    s = _mm512_fmadd_ps(xv[i][3], b3, s);
    _mm512_store_ps(acc[i] + j, s);
  }
}

template <int M>
STRATA_AVX512 void gemv_rows_m(int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
                               int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  alignas(64) float acc[M][kGemvBlock];
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int64_t j0 = 0; j0 < n; j0 += kGemvBlock) {
    const int64_t w = std::min(kGemvBlock, n - j0);
    const int64_t w16 = w & ~int64_t{15};
    const __mmask16 tail = tail_mask(w - w16);
    for (int i = 0; i < M; ++i) {
      for (int64_t j = 0; j < w; j += 16) _mm512_store_ps(acc[i] + j, _mm512_setzero_ps());
    }
    const float* base = mat + j0;
    int64_t kk = 0;
    for (; kk + 4 <= k; kk += 4) {
      __m512 xv[M][4];
      for (int i = 0; i < M; ++i) {
        for (int t = 0; t < 4; ++t) xv[i][t] = _mm512_set1_ps(x[i * ldx + kk + t]);
      }
      const float* r0 = base + kk * ld;
      for (int64_t j = 0; j < w16; j += 16) rows_step4<M>(acc, j, 0xFFFF, xv, r0, ld);
      if (tail != 0) rows_step4<M>(acc, w16, tail, xv, r0, ld);
    }
    for (; kk < k; ++kk) {
      const float* r0 = base + kk * ld;
      for (int64_t j = 0; j < w; j += 16) {
        const __m512 bv = _mm512_maskz_loadu_ps(tail_mask(w - j), r0 + j);
        for (int i = 0; i < M; ++i) {
          _mm512_store_ps(acc[i] + j, _mm512_fmadd_ps(_mm512_set1_ps(x[i * ldx + kk]), bv,
                                                      _mm512_load_ps(acc[i] + j)));
        }
      }
    }
    for (int i = 0; i < M; ++i) {
      float* yi = y + i * ldy + j0;
      for (int64_t j = 0; j < w; j += 16) {
        const __mmask16 mk = tail_mask(w - j);
        __m512 out = _mm512_mul_ps(_mm512_load_ps(acc[i] + j), va);
        if (beta != 0.0f) out = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, yi + j), vb, out);
        _mm512_mask_storeu_ps(yi + j, mk, out);
      }
    }
  }
}

// J rows of mat at a time against M rows of x: M*J accumulators, one per output.
template <int M, int J>
STRATA_AVX512 void gemv_dots_m(int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
                               int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  const int64_t k16 = k & ~int64_t{15};
  const __mmask16 tail = tail_mask(k - k16);
  for (int64_t j = 0; j < n; j += J) {
    const int rows = static_cast<int>(std::min<int64_t>(J, n - j));
    const float* r[J];
    for (int t = 0; t < J; ++t) r[t] = mat + (j + std::min(t, rows - 1)) * ld;
    __m512 s[M][J];
    for (int i = 0; i < M; ++i) {
      for (int t = 0; t < J; ++t) s[i][t] = _mm512_setzero_ps();
    }
    for (int64_t kk = 0; kk < k16; kk += 16) {
      __m512 xv[M];
      for (int i = 0; i < M; ++i) xv[i] = _mm512_loadu_ps(x + i * ldx + kk);
#pragma GCC unroll 8
      for (int t = 0; t < J; ++t) {
        const __m512 bv = _mm512_loadu_ps(r[t] + kk);
        for (int i = 0; i < M; ++i) s[i][t] = _mm512_fmadd_ps(xv[i], bv, s[i][t]);
      }
    }
    if (tail != 0) {
      __m512 xv[M];
      for (int i = 0; i < M; ++i) xv[i] = _mm512_maskz_loadu_ps(tail, x + i * ldx + k16);
      for (int t = 0; t < J; ++t) {
        const __m512 bv = _mm512_maskz_loadu_ps(tail, r[t] + k16);
        for (int i = 0; i < M; ++i) s[i][t] = _mm512_fmadd_ps(xv[i], bv, s[i][t]);
      }
    }
    for (int i = 0; i < M; ++i) {
      for (int t = 0; t < rows; ++t) {
        const float v = alpha * horizontal_sum(s[i][t]);
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
    default:  // more rows than broadcast registers: two passes over mat (the caller keeps it in L2)
      gemv_rows_m<4>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
      return gemv_rows(m - 4, k, n, x + 4 * ldx, ldx, mat, ld, y + 4 * ldy, ldy, alpha, beta);
  }
}

void gemv_dots(int m, int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
               int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  switch (m) {
    case 1: return gemv_dots_m<1, 8>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 2: return gemv_dots_m<2, 6>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 3: return gemv_dots_m<3, 4>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 4: return gemv_dots_m<4, 4>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 5: return gemv_dots_m<5, 3>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 6: return gemv_dots_m<6, 3>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    case 7: return gemv_dots_m<7, 2>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
    default: return gemv_dots_m<8, 2>(k, n, x, ldx, mat, ld, y, ldy, alpha, beta);
  }
}

}  // namespace

const GemmKernels kGemmKernelsAvx512 = {
    "avx512", kMr, kNr, /*kc=*/768, /*mc=*/192, /*nc=*/1536, pack_a, pack_b, micro, gemv_rows, gemv_dots,
};

}  // namespace strata

#endif  // x86
