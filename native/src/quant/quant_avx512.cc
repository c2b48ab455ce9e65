// AVX-512 VNNI quant kernels. Chosen at run time (cpu.cc) when the CPU has AVX-512 F/BW/DQ/VL and
// VNNI; every function carries its own target attribute.
//
// q8_0 / q4_0: two 32-value blocks per zmm. The activations are stored as u8 (q + 128) so they can
// be the unsigned operand of _mm512_dpbusd_epi32 against the signed weights; the accumulator
// starts at -128 * (sum of the 4 weights of each lane), which cancels the +128 exactly. The
// block scales (dw * da) are applied per lane in f32.
// q4_k / q6_k: unsigned weights (0..15, 0..63) against signed activations with
// _mm512_maddubs_epi16, then _mm512_dpwssd_epi32 applies the integer sub-block scales, so f32 work
// happens once per 256 values.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "quant/quant.h"

#define STRATA_VNNI \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace strata::quant {
namespace {

STRATA_VNNI inline float half_scale(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

STRATA_VNNI inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
STRATA_VNNI inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
STRATA_VNNI inline __m128i load128(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}

STRATA_VNNI void quantize_row_vnni(const float* x, int64_t k, int block, bool unsigned_qs,
                                   int8_t* qs, float* d, float* d_exp, int16_t* sums16) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t b = 0; b < k / block; ++b) {
    const float* xb = x + b * block;
    __m512 vmax = zero;
    __mmask16 bad = 0;
    for (int i = 0; i < block; i += 16) {
      const __m512 v = _mm512_loadu_ps(xb + i);
      vmax = _mm512_max_ps(vmax, _mm512_abs_ps(v));
      const __m512 z = _mm512_mul_ps(v, zero);  // NaN for inf and NaN
      bad |= _mm512_cmp_ps_mask(z, z, _CMP_UNORD_Q);
    }
    const float amax = _mm512_reduce_max_ps(vmax);
    int8_t* qb = qs + b * block;
    float scale;
    if (bad != 0) {
      scale = std::numeric_limits<float>::quiet_NaN();
      std::memset(qb, 0, static_cast<size_t>(block));
    } else {
      scale = amax / 127.0f;
      const __m512 id = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
      for (int i = 0; i < block; i += 16) {
        // rounding follows MXCSR: round half to even; |values| <= 127 so the narrowing is exact
        const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + i), id));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + i), _mm512_cvtepi32_epi8(q));
      }
    }
    d[b] = scale;
    if (d_exp != nullptr) _mm256_storeu_ps(d_exp + b * 8, _mm256_set1_ps(scale));
  }
  if (sums16 != nullptr) {
    for (int64_t g = 0; g < k / 16; ++g) {
      sums16[g] = static_cast<int16_t>(_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(load128(qs + g * 16))));
    }
  }
  if (unsigned_qs) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) _mm512_storeu_si512(qs + i, _mm512_xor_si512(load512(qs + i), flip));
    for (; i < k; ++i) qs[i] = static_cast<int8_t>(static_cast<uint8_t>(qs[i]) ^ 0x80u);
  }
}

// Weights of one or two 32-value blocks as signed bytes: block b0 in the low half, b1 (when
// `two`) in the high half, zero otherwise.
STRATA_VNNI inline __m512i signed_weights(const uint8_t* blk, int block_bytes, bool nibbles, bool two) {
  if (!nibbles) {
    const __m256i lo = load256(blk + 2);
    const __m256i hi = two ? load256(blk + block_bytes + 2) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  }
  const __m128i r0 = load128(blk + 2);
  const __m128i r1 = two ? load128(blk + block_bytes + 2) : _mm_setzero_si128();
  __m512i v = _mm512_castsi128_si512(r0);
  v = _mm512_inserti32x4(v, _mm_srli_epi16(r0, 4), 1);
  v = _mm512_inserti32x4(v, r1, 2);
  v = _mm512_inserti32x4(v, _mm_srli_epi16(r1, 4), 3);
  v = _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
  const __m512i eight = two ? _mm512_set1_epi8(8) : _mm512_inserti64x4(_mm512_set1_epi8(8), _mm256_setzero_si256(), 1);
  return _mm512_sub_epi8(v, eight);
}

template <int R>
STRATA_VNNI void dot_signed32(const uint8_t* w, int64_t k, int block_bytes, bool nibbles,
                              const ActRow* rows, float* out) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const int64_t nb = k / 32;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* blk = w + b * block_bytes;
    const __m512i q = signed_weights(blk, block_bytes, nibbles, true);
    // -128 * (sum of each lane's 4 weights): cancels the +128 carried by the u8 activations
    const __m512i init = _mm512_sub_epi32(_mm512_setzero_si512(),
                                          _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q), 7));
    const __m512 dw = _mm512_insertf32x8(_mm512_set1_ps(half_scale(blk)), _mm256_set1_ps(half_scale(blk + block_bytes)), 1);
    for (int r = 0; r < R; ++r) {
      const __m512i p = _mm512_dpbusd_epi32(init, load512(rows[r].qs + b * 32), q);
      const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(p), dw);
      acc[r] = _mm512_fmadd_ps(t, _mm512_loadu_ps(rows[r].d_exp + b * 8), acc[r]);
    }
  }
  if (b < nb) {  // an odd last block: the high half is zero weights with zero scale
    const uint8_t* blk = w + b * block_bytes;
    const __m512i q = signed_weights(blk, block_bytes, nibbles, false);
    const __m512i init = _mm512_sub_epi32(_mm512_setzero_si512(),
                                          _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q), 7));
    const __m512 dw = _mm512_insertf32x8(_mm512_set1_ps(half_scale(blk)), _mm256_setzero_ps(), 1);
    for (int r = 0; r < R; ++r) {
      const __m512i a = _mm512_maskz_loadu_epi8(0xFFFFFFFFull, rows[r].qs + b * 32);
      const __m512i p = _mm512_dpbusd_epi32(init, a, q);
      const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(p), dw);
      acc[r] = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(0x00FF, rows[r].d_exp + b * 8), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

template <int R>
STRATA_VNNI void dot_q4_k_rows(const uint8_t* w, int64_t k, const ActRow* rows, float* out) {
  __m512 acc[R];
  float mins[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm512_setzero_ps();
    mins[r] = 0.0f;
  }
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 144;
    const float d = half_scale(blk);
    const float dmin = half_scale(blk + 2);
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) q4k_scale_min(blk + 4, j, &sc[j], &mn[j]);
    __m512i q[4], scv[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = load256(blk + 16 + 32 * c);
      const __m256i lo = _mm256_and_si256(raw, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      q[c] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      scv[c] = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(sc[2 * c])),
                                  _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1])), 1);
    }
    // mins, paired with the sums of 16: [m0, m0, m1, m1, ..., m7, m7]
    const __m256i mins16 = _mm256_setr_epi16(
        static_cast<int16_t>(mn[0]), static_cast<int16_t>(mn[0]), static_cast<int16_t>(mn[1]), static_cast<int16_t>(mn[1]),
        static_cast<int16_t>(mn[2]), static_cast<int16_t>(mn[2]), static_cast<int16_t>(mn[3]), static_cast<int16_t>(mn[3]),
        static_cast<int16_t>(mn[4]), static_cast<int16_t>(mn[4]), static_cast<int16_t>(mn[5]), static_cast<int16_t>(mn[5]),
        static_cast<int16_t>(mn[6]), static_cast<int16_t>(mn[6]), static_cast<int16_t>(mn[7]), static_cast<int16_t>(mn[7]));
    for (int r = 0; r < R; ++r) {
      const int8_t* a = rows[r].qs + b * 256;
      __m512i isum = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q[c], load512(a + 64 * c)), scv[c]);
      }
      const float da = rows[r].d[b];
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * da), acc[r]);
      const __m256i m = _mm256_madd_epi16(load256(rows[r].sums16 + b * 16), mins16);
      const __m128i m4 = _mm_add_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
      const __m128i m2 = _mm_add_epi32(m4, _mm_shuffle_epi32(m4, 0x4E));
      const int summ = _mm_cvtsi128_si32(_mm_add_epi32(m2, _mm_shuffle_epi32(m2, 0xB1)));
      mins[r] += dmin * da * static_cast<float>(summ);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]) - mins[r];
}

template <int R>
STRATA_VNNI void dot_q6_k_rows(const uint8_t* w, int64_t k, const ActRow* rows, float* out) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  // maddubs lane l (of 32 i16) covers bytes 2l, 2l+1, i.e. group l/8 of the 4 groups in a zmm
  alignas(64) static const int16_t kGroupOf[4][32] = {
      {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
      {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
      {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
      {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15}};
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 210;
    const float d = half_scale(blk + 208);
    const __m256i sc16 = _mm256_cvtepi8_epi16(load128(blk + 192));
    const __m512i sc16z = _mm512_castsi256_si512(sc16);
    __m512i q[4], scv[4];
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(blk + 64 * h);
      const __m256i ql1 = load256(blk + 64 * h + 32);
      const __m256i qh = load256(blk + 128 + 32 * h);
      const __m256i q0 = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      const __m256i q1 = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, bits45));
      const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
      q[2 * h] = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
      q[2 * h + 1] = _mm512_inserti64x4(_mm512_castsi256_si512(q2), q3, 1);
    }
    for (int i = 0; i < 4; ++i) scv[i] = _mm512_permutexvar_epi16(_mm512_load_si512(kGroupOf[i]), sc16z);
    for (int r = 0; r < R; ++r) {
      const int8_t* a = rows[r].qs + b * 256;
      // the -32 offset: start from -32 * sum_g sc[g] * (sum of the 16 activation quants of group g)
      const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(load256(rows[r].sums16 + b * 16), sc16), 5);
      __m512i isum = _mm512_castsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
      isum = _mm512_inserti64x4(isum, _mm256_setzero_si256(), 1);
      for (int i = 0; i < 4; ++i) {
        isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q[i], load512(a + 64 * i)), scv[i]);
      }
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * rows[r].d[b]), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
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

STRATA_VNNI inline __m512 load_half16(const uint16_t* p, bool bf16) {
  const __m256i h = load256(p);
  if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  return _mm512_cvtph_ps(h);
}

STRATA_VNNI inline __m512 load_half16_masked(const uint16_t* p, bool bf16, __mmask16 m) {
  const __m256i h = _mm256_maskz_loadu_epi16(m, p);
  if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  return _mm512_cvtph_ps(h);
}

STRATA_VNNI void half_to_float_vnni(const uint16_t* src, int64_t n, bool bf16, float* dst) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load_half16(src + i, bf16));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(dst + i, m, load_half16_masked(src + i, bf16, m));
  }
}

template <int R>
STRATA_VNNI void half_dot_rows(const uint16_t* w, int64_t ldw, bool bf16, int64_t n, int64_t k,
                               const float* x, int64_t ldx, float* out, int64_t ldo) {
  const int64_t tail = k % 16;
  const __mmask16 tail_mask = static_cast<__mmask16>((1u << tail) - 1u);
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t* row = w + j * ldw;
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
      const __m512 v = load_half16(row + p, bf16);
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(v, _mm512_loadu_ps(x + r * ldx + p), acc[r]);
    }
    if (tail != 0) {
      const __m512 v = load_half16_masked(row + p, bf16, tail_mask);
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(tail_mask, x + r * ldx + p), acc[r]);
    }
    for (int r = 0; r < R; ++r) out[r * ldo + j] = _mm512_reduce_add_ps(acc[r]);
  }
}

void half_dot_vnni(const uint16_t* w, int64_t ldw, bool bf16, int64_t n, int64_t k, const float* x,
                   int64_t ldx, int nrows, float* out, int64_t ldo) {
  switch (nrows) {
    case 1: half_dot_rows<1>(w, ldw, bf16, n, k, x, ldx, out, ldo); break;
    case 2: half_dot_rows<2>(w, ldw, bf16, n, k, x, ldx, out, ldo); break;
    case 3: half_dot_rows<3>(w, ldw, bf16, n, k, x, ldx, out, ldo); break;
    default: half_dot_rows<4>(w, ldw, bf16, n, k, x, ldx, out, ldo); break;
  }
}

}  // namespace

const QuantKernels kQuantAvx512Vnni = {
    "avx512vnni",
    true,
    true,
    quantize_row_vnni,
    {by_rows<Q4_0>, by_rows<Q8_0>, by_rows<Q4_K>, by_rows<Q6_K>},
    half_dot_vnni,
    half_to_float_vnni,
};

}  // namespace strata::quant

#endif
