// AVX2 quant kernels: 8-bit products with _mm256_maddubs_epi16 (u8 x s8 -> pairs of i16) and
// _mm256_madd_epi16 (-> i32), one 32-value block per register. Chosen at run time (cpu.cc) when
// the CPU has AVX2 but not AVX-512 VNNI; every function carries its own target attribute.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "quant/quant.h"

#define STRATA_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace strata::quant {
namespace {

STRATA_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

STRATA_AVX2 inline float half_scale(const uint8_t* p) {
  return _cvtsh_ss(load_u16(p));
}

// Sum of 32 u8 x s8 products per 8-lane group: lanes hold partial sums (i32).
STRATA_AVX2 inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

STRATA_AVX2 void quantize_row_avx2(const QTypeInfo& t, const float* x, int64_t k, const ActRow& out) {
  const int block = t.act_block;
  int8_t* qs = out.qs;
  float* d = out.d;
  int16_t* sums16 = out.sums16;
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < k / block; ++b) {
    const float* xb = x + b * block;
    __m256 vmax = _mm256_setzero_ps();
    __m256 bad = _mm256_setzero_ps();
    for (int i = 0; i < block; i += 8) {
      const __m256 v = _mm256_loadu_ps(xb + i);
      vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign_mask, v));
      const __m256 z = _mm256_mul_ps(v, _mm256_setzero_ps());  // NaN for inf and NaN
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(z, z, _CMP_UNORD_Q));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float amax = _mm_cvtss_f32(m);
    int8_t* qb = qs + b * block;
    float scale;
    if (_mm256_movemask_ps(bad) != 0) {
      scale = std::numeric_limits<float>::quiet_NaN();
      std::memset(qb, 0, static_cast<size_t>(block));
    } else {
      scale = amax / 127.0f;
      if (t.code == QType::kQ8_0 || t.code == QType::kQ4_0) scale = round_to_half(scale);
      const __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
      for (int i = 0; i < block; i += 32) {
        // rounding follows MXCSR: round half to even
        const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i), id));
        const __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 8), id));
        const __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 16), id));
        const __m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 24), id));
        const __m256i p01 = _mm256_packs_epi32(q0, q1);
        const __m256i p23 = _mm256_packs_epi32(q2, q3);
        __m256i p = _mm256_packs_epi16(p01, p23);
        // the packs work per 128-bit lane: restore the order of the 8-value groups
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + i), p);
      }
    }
    d[b] = scale;
  }
  if (sums16 != nullptr) {
    for (int64_t g = 0; g < k / 16; ++g) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs + g * 16));
      const __m256i w = _mm256_cvtepi8_epi16(v);
      __m128i s = _mm_madd_epi16(_mm_add_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)),
                                 _mm_set1_epi16(1));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
      sums16[g] = static_cast<int16_t>(_mm_cvtsi128_si32(s));
    }
  }
}

// Signed weights (32 per block) against signed activations, via |w| and sign(a, w).
template <int R>
STRATA_AVX2 void dot_signed32(const uint8_t* w, int64_t k, int block_bytes, bool nibbles,
                              const ActRow* rows, float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < k / 32; ++b) {
    const uint8_t* blk = w + b * block_bytes;
    const float dw = half_scale(blk);
    __m256i q;
    if (nibbles) {
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
      q = _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
    } else {
      q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    }
    const __m256i aq = _mm256_sign_epi8(q, q);
    for (int r = 0; r < R; ++r) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r].qs + b * 32));
      const __m256i p = dot_u8s8(aq, _mm256_sign_epi8(a, q));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * rows[r].d[b]), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]);
}

template <int R>
STRATA_AVX2 void dot_q4_k_rows(const uint8_t* w, int64_t k, const ActRow* rows, float* out) {
  __m256 acc[R];
  float mins[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm256_setzero_ps();
    mins[r] = 0.0f;
  }
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 144;
    const float d = half_scale(blk);
    const float dmin = half_scale(blk + 2);
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) q4k_scale_min(blk + 4, j, &sc[j], &mn[j]);
    __m256i isum[R];
    for (int r = 0; r < R; ++r) isum[r] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
      const __m256i lo = _mm256_and_si256(q, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      const __m256i s_lo = _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c]));
      const __m256i s_hi = _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1]));
      for (int r = 0; r < R; ++r) {
        const int8_t* a = rows[r].qs + b * 256 + 64 * c;
        const __m256i p_lo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)));
        const __m256i p_hi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32)));
        isum[r] = _mm256_add_epi32(isum[r], _mm256_add_epi32(_mm256_madd_epi16(p_lo, s_lo), _mm256_madd_epi16(p_hi, s_hi)));
      }
    }
    for (int r = 0; r < R; ++r) {
      const float da = rows[r].d[b];
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), _mm256_set1_ps(d * da), acc[r]);
      const int16_t* s16 = rows[r].sums16 + b * 16;
      int summ = 0;
      for (int j = 0; j < 8; ++j) summ += mn[j] * (s16[2 * j] + s16[2 * j + 1]);
      mins[r] += dmin * da * static_cast<float>(summ);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]) - mins[r];
}

template <int R>
STRATA_AVX2 void dot_q6_k_rows(const uint8_t* w, int64_t k, const ActRow* rows, float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 210;
    const float d = half_scale(blk + 208);
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    __m256i isum[R];
    for (int r = 0; r < R; ++r) {
      // the -32 offset: subtract 32 * sum_g sc[g] * (sum of the 16 activation quants of group g)
      const __m256i s16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r].sums16 + b * 16));
      isum[r] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(s16, sc16), 5));
    }
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h));
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, bits45));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
      for (int s = 0; s < 4; ++s) {
        const int g = 8 * h + 2 * s;  // groups g and g+1 of 16 values
        const __m256i scv = _mm256_setr_m128i(_mm_set1_epi16(sc[g]), _mm_set1_epi16(sc[g + 1]));
        for (int r = 0; r < R; ++r) {
          const int8_t* a = rows[r].qs + b * 256 + 128 * h + 32 * s;
          const __m256i p = _mm256_maddubs_epi16(q[s], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)));
          isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(p, scv));
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), _mm256_set1_ps(d * rows[r].d[b]), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]);
}

template <template <int> class K>
void by_rows(const uint8_t* w, int64_t k, const ActRow* rows, int nrows, float* out) {
  switch (nrows) {
    case 1: K<1>::run(w, k, rows, out); break;
    case 2: K<2>::run(w, k, rows, out); break;
    case 3: K<3>::run(w, k, rows, out); break;
    default: K<4>::run(w, k, rows, out); break;
  }
}

template <int R> struct Q8_0 { static void run(const uint8_t* w, int64_t k, const ActRow* a, float* o) { dot_signed32<R>(w, k, 34, false, a, o); } };
template <int R> struct Q4_0 { static void run(const uint8_t* w, int64_t k, const ActRow* a, float* o) { dot_signed32<R>(w, k, 18, true, a, o); } };
template <int R> struct Q4_K { static void run(const uint8_t* w, int64_t k, const ActRow* a, float* o) { dot_q4_k_rows<R>(w, k, a, o); } };
template <int R> struct Q6_K { static void run(const uint8_t* w, int64_t k, const ActRow* a, float* o) { dot_q6_k_rows<R>(w, k, a, o); } };

STRATA_AVX2 inline __m256 load_half8(const uint16_t* p, bool bf16) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

STRATA_AVX2 void half_to_float_avx2(const uint16_t* src, int64_t n, bool bf16, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_half8(src + i, bf16));
  for (; i < n; ++i) {
    if (bf16) {
      const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
      std::memcpy(dst + i, &bits, sizeof(float));
    } else {
      dst[i] = _cvtsh_ss(src[i]);
    }
  }
}

template <int R>
STRATA_AVX2 void half_dot_rows(const uint16_t* w, int64_t ldw, bool bf16, int64_t n, int64_t k,
                               const float* x, int64_t ldx, float* out, int64_t ldo) {
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t* row = w + j * ldw;
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
      const __m256 v = load_half8(row + p, bf16);
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + r * ldx + p), acc[r]);
    }
    float tail[R];
    for (int r = 0; r < R; ++r) tail[r] = 0.0f;
    for (; p < k; ++p) {
      float v;
      if (bf16) {
        const uint32_t bits = static_cast<uint32_t>(row[p]) << 16;
        std::memcpy(&v, &bits, sizeof v);
      } else {
        v = _cvtsh_ss(row[p]);
      }
      for (int r = 0; r < R; ++r) tail[r] += v * x[r * ldx + p];
    }
    for (int r = 0; r < R; ++r) out[r * ldo + j] = hsum(acc[r]) + tail[r];
  }
}

void half_dot_avx2(const uint16_t* w, int64_t ldw, bool bf16, int64_t n, int64_t k, const float* x,
                   int64_t ldx, int nrows, float* out, int64_t ldo) {
  switch (nrows) {
    case 1: half_dot_rows<1>(w, ldw, bf16, n, k, x, ldx, out, ldo); break;
    case 2: half_dot_rows<2>(w, ldw, bf16, n, k, x, ldx, out, ldo); break;
    case 3: half_dot_rows<3>(w, ldw, bf16, n, k, x, ldx, out, ldo); break;
    default: half_dot_rows<4>(w, ldw, bf16, n, k, x, ldx, out, ldo); break;
  }
}

}  // namespace

const QuantKernels kQuantAvx2 = {
    "avx2",
    false,
    quantize_row_avx2,
    {by_rows<Q4_0>, by_rows<Q8_0>, by_rows<Q4_K>, by_rows<Q6_K>},
    half_dot_avx2,
    half_to_float_avx2,
    nullptr,
    nullptr,
};

}  // namespace strata::quant

#endif
