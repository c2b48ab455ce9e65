// AVX-512 VNNI quant kernels. Chosen at run time (cpu.cc) when the CPU has AVX-512 F/BW/DQ/VL and
// VNNI; every function carries its own target attribute.
//
// q8_0 / q4_0: two 32-value blocks per zmm. The weights are the unsigned operand of
// _mm512_dpbusd_epi32 (q8_0 as w + 128, q4_0 as its nibbles 0..15) against the signed activations;
// the accumulator starts at -(offset) * (sum of the block's activation quants), precomputed per
// activation row, which cancels the offset exactly. The block scales (dw * da) apply in f32.
// q4_k / q6_k: unsigned weights (0..15, 0..63) against signed activations with
// _mm512_maddubs_epi16, then _mm512_dpwssd_epi32 applies the integer sub-block scales, so f32 work
// happens once per 256 values.
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include <algorithm>
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

// Activation rows for this table. 32-blocks (q8_0, q4_0): plain signed quants, d_exp, and corr
// = [-(block sum) << shift, 0 x 7] per block, the dpbusd accumulator that cancels the weights'
// offset (shift 7: q8_0 weights are fed as u8 w + 128; shift 3: q4_0 nibbles q are fed as is,
// their value being q - 8). 256-blocks: plain quants and sums16, and for q4_k each 128 values
// reordered as [0..31, 64..95, 32..63, 96..127] to match the low / high nibbles of a 64-byte load.
STRATA_VNNI void quantize_row_vnni(const QTypeInfo& t, const float* x, int64_t k, const ActRow& out) {
  const int block = t.act_block;
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
    int8_t* qb = out.qs + b * block;
    float scale;
    if (bad != 0) {
      scale = std::numeric_limits<float>::quiet_NaN();
      std::memset(qb, 0, static_cast<size_t>(block));
    } else {
      scale = amax / 127.0f;
      if (t.code == QType::kQ8_0 || t.code == QType::kQ4_0) scale = round_to_half(scale);
      const __m512 id = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
      for (int i = 0; i < block; i += 16) {
        // rounding follows MXCSR: round half to even; |values| <= 127 so the narrowing is exact
        const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + i), id));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + i), _mm512_cvtepi32_epi8(q));
      }
    }
    out.d[b] = scale;
    if (block == 32) {
      const int shift = t.code == QType::kQ8_0 ? 7 : 3;
      const int sum = _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(load128(qb))) +
                      _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(load128(qb + 16)));
      _mm256_storeu_ps(out.d_exp + b * 8, _mm256_set1_ps(scale));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.corr + b * 8), _mm256_setr_epi32(-(sum * (1 << shift)), 0, 0, 0, 0, 0, 0, 0));
    }
  }
  if (block == 256) {
    for (int64_t g = 0; g < k / 16; ++g) {
      out.sums16[g] = static_cast<int16_t>(_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(load128(out.qs + g * 16))));
    }
  }
  if (t.code == QType::kQ4_K) {
    for (int64_t h = 0; h < k / 128; ++h) {
      int8_t* q = out.qs + h * 128;
      const __m256i a1 = load256(q + 32), a2 = load256(q + 64);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32), a2);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 64), a1);
    }
  }
}

// Four f16 block scales, `stride` bytes apart, as f32 lanes 0..3.
STRATA_VNNI inline __m512 four_scales(const uint8_t* p, int stride) {
  const uint32_t lo = load_u16(p) | (static_cast<uint32_t>(load_u16(p + stride)) << 16);
  const uint32_t hi = load_u16(p + 2 * stride) | (static_cast<uint32_t>(load_u16(p + 3 * stride)) << 16);
  return _mm512_castps128_ps512(_mm_cvtph_ps(_mm_set_epi32(0, 0, static_cast<int>(hi), static_cast<int>(lo))));
}

// Two blocks of weights as u8: q8_0 as w + 128, q4_0 as the nibbles 0..15 (in value order).
// With `two` false the high block is zero.
template <bool kNibbles>
STRATA_VNNI inline __m512i unsigned_weights(const uint8_t* blk, int block_bytes, bool two) {
  if (!kNibbles) {
    const __m256i lo = load256(blk + 2);
    const __m256i hi = two ? load256(blk + block_bytes + 2) : _mm256_set1_epi8(static_cast<char>(0x80));
    return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1),
                            _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  // [r0 | r1] -> [r0, r0, r1, r1], then the high nibbles of the 2nd and 4th 128-bit lanes
  const __m128i r0 = load128(blk + 2);
  const __m128i r1 = two ? load128(blk + block_bytes + 2) : _mm_set1_epi8(0);
  const __m512i pair = _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(r0), r1, 1));
  __m512i v = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), pair);
  v = _mm512_mask_srli_epi16(v, 0xFF00FF00u, v, 4);
  return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

template <int R, bool kNibbles>
STRATA_VNNI inline void pair_step(const __m512i q, const __m512 dw, int64_t b, const ActRow* rows, __m512* acc) {
  for (int r = 0; r < R; ++r) {
    const __m512i init = load512(rows[r].corr + b * 8);
    const __m512i p = _mm512_dpbusd_epi32(init, q, load512(rows[r].qs + b * 32));
    const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(p), dw);
    acc[r] = _mm512_fmadd_ps(t, _mm512_loadu_ps(rows[r].d_exp + b * 8), acc[r]);
  }
}

template <int R, bool kNibbles>
STRATA_VNNI void dot_blocks32(const uint8_t* w, int64_t k, const ActRow* rows, float* out) {
  constexpr int kBytes = kNibbles ? 18 : 34;
  const __m512i first_pair = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i second_pair = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  // two accumulators per row, so consecutive pairs do not wait on each other's FMA
  __m512 acc[R], acc2[R];
  for (int r = 0; r < R; ++r) acc[r] = acc2[r] = _mm512_setzero_ps();
  const int64_t nb = k / 32;
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const uint8_t* blk = w + b * kBytes;
    const __m512 s4 = four_scales(blk, kBytes);
    pair_step<R, kNibbles>(unsigned_weights<kNibbles>(blk, kBytes, true), _mm512_permutexvar_ps(first_pair, s4), b, rows, acc);
    pair_step<R, kNibbles>(unsigned_weights<kNibbles>(blk + 2 * kBytes, kBytes, true), _mm512_permutexvar_ps(second_pair, s4), b + 2, rows, acc2);
  }
  for (int r = 0; r < R; ++r) acc[r] = _mm512_add_ps(acc[r], acc2[r]);
  for (; b < nb; b += 2) {
    const uint8_t* blk = w + b * kBytes;
    const bool two = b + 2 <= nb;
    const __m512 dw = _mm512_insertf32x8(_mm512_set1_ps(half_scale(blk)),
                                         two ? _mm256_set1_ps(half_scale(blk + kBytes)) : _mm256_setzero_ps(), 1);
    const __m512i q = unsigned_weights<kNibbles>(blk, kBytes, two);
    const __mmask16 m16 = two ? 0xFFFF : 0x00FF;
    for (int r = 0; r < R; ++r) {
      const __m512i init = _mm512_maskz_loadu_epi32(m16, rows[r].corr + b * 8);
      const __m512i a = _mm512_maskz_loadu_epi8(two ? ~0ull : 0xFFFFFFFFull, rows[r].qs + b * 32);
      const __m512i p = _mm512_dpbusd_epi32(init, q, a);
      const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(p), dw);
      acc[r] = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(m16, rows[r].d_exp + b * 8), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

// i16 lane l of a maddubs result covers bytes 2l, 2l+1: permutation indices that spread 16-bit
// scales over those lanes.
alignas(64) const int16_t kQ4kScaleIdx[4][32] = {
    // [sc0 x16, sc2 x16], [sc1 x16, sc3 x16], [sc4 x16, sc6 x16], [sc5 x16, sc7 x16]
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6},
    {5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}};
alignas(32) const int16_t kQ4kMinIdx[16] = {8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15};
alignas(64) const int16_t kQ6kGroupIdx[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15}};

// The 8 scales then the 8 mins of a q4_k block, as bytes, from its 12 packed bytes.
inline __m128i q4k_scales_mins(const uint8_t* s) {
  uint32_t u[4];
  std::memcpy(u, s, 12);
  const uint32_t six = 0x3f3f3f3f, low4 = 0x0f0f0f0f, top2 = 0x03030303;
  u[3] = ((u[2] >> 4) & low4) | (((u[1] >> 6) & top2) << 4);
  const uint32_t mins_lo = u[1] & six;
  u[1] = (u[2] & low4) | (((u[0] >> 6) & top2) << 4);
  u[2] = mins_lo;
  u[0] &= six;
  __m128i v;
  std::memcpy(&v, u, 16);
  return v;
}

template <int R>
STRATA_VNNI void dot_q4_k_rows(const uint8_t* w, int64_t k, const ActRow* rows, float* out) {
  __m512 acc[R];
  __m256 macc[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm512_setzero_ps();
    macc[r] = _mm256_setzero_ps();
  }
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 144;
    const float d = half_scale(blk);
    const float dmin = half_scale(blk + 2);
    const __m256i sm16 = _mm256_cvtepu8_epi16(q4k_scales_mins(blk + 4));  // [sc0..7, m0..7]
    const __m512i smz = _mm512_castsi256_si512(sm16);
    __m512i q[4], scv[4];
    for (int h = 0; h < 2; ++h) {
      const __m512i v = load512(blk + 16 + 64 * h);
      q[2 * h] = _mm512_and_si512(v, low4);
      q[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    }
    for (int i = 0; i < 4; ++i) scv[i] = _mm512_permutexvar_epi16(_mm512_load_si512(kQ4kScaleIdx[i]), smz);
    const __m256i mins16 = _mm256_permutexvar_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(kQ4kMinIdx)), sm16);
    for (int r = 0; r < R; ++r) {
      const int8_t* a = rows[r].qs + b * 256;
      // two independent accumulation chains (dpwssd latency), summed at the end
      __m512i i0 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(q[0], load512(a)), scv[0]);
      __m512i i1 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(q[1], load512(a + 64)), scv[1]);
      i0 = _mm512_dpwssd_epi32(i0, _mm512_maddubs_epi16(q[2], load512(a + 128)), scv[2]);
      i1 = _mm512_dpwssd_epi32(i1, _mm512_maddubs_epi16(q[3], load512(a + 192)), scv[3]);
      const __m512i isum = _mm512_add_epi32(i0, i1);
      const float da = rows[r].d[b];
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * da), acc[r]);
      const __m256i m = _mm256_madd_epi16(load256(rows[r].sums16 + b * 16), mins16);
      macc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(dmin * da), macc[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(macc[r]), _mm256_extractf128_ps(macc[r], 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    out[r] = _mm512_reduce_add_ps(acc[r]) - _mm_cvtss_f32(s);
  }
}

template <int R>
STRATA_VNNI void dot_q6_k_rows(const uint8_t* w, int64_t k, const ActRow* rows, float* out) {
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  // the 2 high bits of values 0..31 sit in bits 0-1 of qh, of 32..63 in bits 2-3, of 64..95 in
  // bits 4-5, of 96..127 in bits 6-7: per-half shifts bring them to bits 4-5
  const __m512i shl_a = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr_b = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 210;
    const float d = half_scale(blk + 208);
    const __m256i sc16 = _mm256_cvtepi8_epi16(load128(blk + 192));
    const __m512i scz = _mm512_castsi256_si512(sc16);
    __m512i q[4], scv[4];
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = load512(blk + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(load256(blk + 128 + 32 * h));
      const __m512i hi_a = _mm512_and_si512(_mm512_sllv_epi16(qh, shl_a), bits45);
      const __m512i hi_b = _mm512_and_si512(_mm512_srlv_epi16(qh, shr_b), bits45);
      q[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), hi_a);
      q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), hi_b);
    }
    for (int i = 0; i < 4; ++i) scv[i] = _mm512_permutexvar_epi16(_mm512_load_si512(kQ6kGroupIdx[i]), scz);
    for (int r = 0; r < R; ++r) {
      const int8_t* a = rows[r].qs + b * 256;
      // the -32 offset: start from -32 * sum_g sc[g] * (sum of the 16 activation quants of group g)
      const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(load256(rows[r].sums16 + b * 16), sc16), 5);
      __m512i i0 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_sub_epi32(_mm256_setzero_si256(), off), 0);
      __m512i i1 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(q[1], load512(a + 64)), scv[1]);
      i0 = _mm512_dpwssd_epi32(i0, _mm512_maddubs_epi16(q[0], load512(a)), scv[0]);
      i0 = _mm512_dpwssd_epi32(i0, _mm512_maddubs_epi16(q[2], load512(a + 128)), scv[2]);
      i1 = _mm512_dpwssd_epi32(i1, _mm512_maddubs_epi16(q[3], load512(a + 192)), scv[3]);
      const __m512i isum = _mm512_add_epi32(i0, i1);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * rows[r].d[b]), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

// ---- packed panels (prefill): one zmm lane per weight row, whole-block dot products ----
//
// A panel holds kPanelCols = 32 weight rows as u8 quants regrouped so that dword lane j of a
// vector is 4 consecutive values of weight row j (q8_0: w + 128; q4_0, q4_k: nibbles; q6_k: the
// 6-bit values), followed by f32 per-row scales. The kernel broadcasts 4 activation quants and
// runs dpbusd against 16 weight rows at once: each lane ends a block holding one whole (row,
// column) integer dot product, so the f32 scaling costs a few ops per 16 outputs per block.
// Layouts, per block of the weight:
//   32-blocks:  [8 dword groups][32 rows], then [32 rows] f32 d                      1152 bytes
//   q4_k:       [8 sub-blocks][8 groups][32 rows], then [8][32] d*sc, [8][32] dmin*m  10240 bytes
//   q6_k:       [16 groups of 16][4 groups][32 rows], then [16][32] d*sc             10240 bytes
// Gathers read 4 bytes at offsets that stay inside each block, masked past the last row.

namespace panel {

struct Rows {
  __m512i index;  // byte offsets of 16 weight rows
  __mmask16 mask;
};

STRATA_VNNI inline Rows rows_of(int64_t ldw, int64_t nc) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int64_t n = std::max<int64_t>(0, std::min<int64_t>(16, nc));
  return {_mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(ldw))), static_cast<__mmask16>((1u << n) - 1u)};
}

STRATA_VNNI inline __m512i gather(const Rows& r, const uint8_t* p) {
  return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), r.mask, r.index, p, 1);
}

STRATA_VNNI inline __m512 half_lo(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)); }
STRATA_VNNI inline __m512 half_hi(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16))); }
STRATA_VNNI inline __m512 byte_u(__m512i v, int i) {
  return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 8 * i), _mm512_set1_epi32(0xFF)));
}
STRATA_VNNI inline __m512 byte_s(__m512i v, int i) {
  return _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * i), 24));
}
STRATA_VNNI inline void put(uint8_t* p, __m512i v) { _mm512_storeu_si512(p, v); }
STRATA_VNNI inline void put(uint8_t* p, __m512 v) { _mm512_storeu_ps(p, v); }

STRATA_VNNI void pack_blocks32(const QTypeInfo& t, const uint8_t* hb, const Rows& r, int64_t k, uint8_t* out, int h) {
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < k / 32; ++b, hb += t.block_bytes, out += 1152) {
    put(out + 1024 + 64 * h, half_lo(gather(r, hb)));
    if (t.code == QType::kQ8_0) {
      for (int g = 0; g < 8; ++g) put(out + 128 * g + 64 * h, _mm512_xor_si512(gather(r, hb + 2 + 4 * g), _mm512_set1_epi8(static_cast<char>(0x80))));
    } else {
      for (int g = 0; g < 4; ++g) {
        const __m512i v = gather(r, hb + 2 + 4 * g);
        put(out + 128 * g + 64 * h, _mm512_and_si512(v, lo4));
        put(out + 128 * (g + 4) + 64 * h, _mm512_and_si512(_mm512_srli_epi32(v, 4), lo4));
      }
    }
  }
}

STRATA_VNNI void pack_q4_k(const uint8_t* hb, const Rows& r, int64_t k, uint8_t* out, int h) {
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  const __m512i six = _mm512_set1_epi32(0x3f3f3f3f), low4 = _mm512_set1_epi32(0x0f0f0f0f), top2 = _mm512_set1_epi32(0x03030303);
  for (int64_t b = 0; b < k / 256; ++b, hb += 144, out += 10240) {
    const __m512i dd = gather(r, hb);
    const __m512 d = half_lo(dd), dmin = half_hi(dd);
    // the 12 scale bytes as 3 dwords: 8 six-bit scales then 8 six-bit mins (see q4k_scales_mins)
    const __m512i u0 = gather(r, hb + 4), u1 = gather(r, hb + 8), u2 = gather(r, hb + 12);
    const __m512i sc_lo = _mm512_and_si512(u0, six);
    const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(u2, low4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), top2), 4));
    const __m512i mn_lo = _mm512_and_si512(u1, six);
    const __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), low4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), top2), 4));
    for (int j = 0; j < 8; ++j) {
      put(out + 8192 + 128 * j + 64 * h, _mm512_mul_ps(d, byte_u(j < 4 ? sc_lo : sc_hi, j % 4)));
      put(out + 9216 + 128 * j + 64 * h, _mm512_mul_ps(dmin, byte_u(j < 4 ? mn_lo : mn_hi, j % 4)));
    }
    for (int c = 0; c < 4; ++c) {
      for (int g = 0; g < 8; ++g) {
        const __m512i v = gather(r, hb + 16 + 32 * c + 4 * g);
        put(out + 1024 * (2 * c) + 128 * g + 64 * h, _mm512_and_si512(v, lo4));
        put(out + 1024 * (2 * c + 1) + 128 * g + 64 * h, _mm512_and_si512(_mm512_srli_epi32(v, 4), lo4));
      }
    }
  }
}

STRATA_VNNI void pack_q6_k(const uint8_t* hb, const Rows& r, int64_t k, uint8_t* out, int h) {
  const __m512i lo4 = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03);
  for (int64_t b = 0; b < k / 256; ++b, hb += 210, out += 10240) {
    const __m512 d = half_hi(gather(r, hb + 206));  // bytes 206..209: d is the high half
    for (int i = 0; i < 4; ++i) {
      const __m512i sc = gather(r, hb + 192 + 4 * i);
      for (int e = 0; e < 4; ++e) put(out + 8192 + 128 * (4 * i + e) + 64 * h, _mm512_mul_ps(d, byte_s(sc, e)));
    }
    for (int half = 0; half < 2; ++half) {
      for (int l = 0; l < 32; l += 4) {
        const __m512i ql0 = gather(r, hb + 64 * half + l);
        const __m512i ql1 = gather(r, hb + 64 * half + 32 + l);
        const __m512i qh = gather(r, hb + 128 + 32 * half + l);
        for (int q = 0; q < 4; ++q) {  // quarter: values 32q + l .. of this half
          const __m512i low = q < 2 ? (q == 0 ? ql0 : ql1) : (q == 2 ? ql0 : ql1);
          const __m512i lowv = _mm512_and_si512(q < 2 ? low : _mm512_srli_epi32(low, 4), lo4);
          const __m512i highv = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh, 2 * q), two), 4);
          const int grp = 8 * half + 2 * q + l / 16;
          put(out + 512 * grp + 128 * ((l % 16) / 4) + 64 * h, _mm512_or_si512(lowv, highv));
        }
      }
    }
  }
}

}  // namespace panel

STRATA_VNNI void pack_panel_vnni(const QTypeInfo& t, const uint8_t* w, int64_t ldw, int64_t j0, int64_t ncols, int64_t k,
                                 uint8_t* out) {
  for (int h = 0; h < 2; ++h) {
    const panel::Rows r = panel::rows_of(ldw, ncols - 16 * h);
    const uint8_t* hb = w + (j0 + 16 * h) * ldw;
    if (r.mask == 0) hb = w;  // nothing is read through it
    switch (t.code) {
      case QType::kQ8_0:
      case QType::kQ4_0: panel::pack_blocks32(t, hb, r, k, out, h); break;
      case QType::kQ4_K: panel::pack_q4_k(hb, r, k, out, h); break;
      case QType::kQ6_K: panel::pack_q6_k(hb, r, k, out, h); break;
    }
  }
}

// Adds the dpbusd of `groups` dword groups of the panel (at pb, 128 bytes apart) against the
// activation quants at a[r] (4 per group) to i0 / i1.
template <int R>
STRATA_VNNI inline void panel_dots(const uint8_t* pb, int groups, const int8_t* const* a, __m512i* i0, __m512i* i1) {
  for (int g = 0; g < groups; ++g) {
    const __m512i w0 = load512(pb + 128 * g);
    const __m512i w1 = load512(pb + 128 * g + 64);
    for (int r = 0; r < R; ++r) {
      int32_t a4;
      std::memcpy(&a4, a[r] + 4 * g, 4);
      const __m512i av = _mm512_set1_epi32(a4);
      i0[r] = _mm512_dpbusd_epi32(i0[r], w0, av);
      i1[r] = _mm512_dpbusd_epi32(i1[r], w1, av);
    }
  }
}

template <int R>
STRATA_VNNI void gemm_panel_rows(const QTypeInfo& t, const uint8_t* panel, int64_t k, const ActRow* rows, float* y,
                                 int64_t ldy, int64_t ncols) {
  __m512 f0[R], f1[R];
  for (int r = 0; r < R; ++r) f0[r] = f1[r] = _mm512_setzero_ps();
  const int8_t* a[R];
  if (t.block_values == 32) {
    for (int64_t b = 0; b < k / 32; ++b) {
      const uint8_t* pb = panel + b * 1152;
      __m512i i0[R], i1[R];
      for (int r = 0; r < R; ++r) {
        i0[r] = i1[r] = _mm512_set1_epi32(rows[r].corr[b * 8]);  // -offset * block sum
        a[r] = rows[r].qs + b * 32;
      }
      panel_dots<R>(pb, 8, a, i0, i1);
      const __m512 dw0 = _mm512_loadu_ps(pb + 1024), dw1 = _mm512_loadu_ps(pb + 1088);
      for (int r = 0; r < R; ++r) {
        const __m512 da = _mm512_set1_ps(rows[r].d[b]);
        f0[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[r]), _mm512_mul_ps(dw0, da), f0[r]);
        f1[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[r]), _mm512_mul_ps(dw1, da), f1[r]);
      }
    }
  } else {
    const bool q4k = t.code == QType::kQ4_K;
    for (int64_t b = 0; b < k / 256; ++b) {
      const uint8_t* pb = panel + b * 10240;
      __m512 t0[R], t1[R];
      for (int r = 0; r < R; ++r) t0[r] = t1[r] = _mm512_setzero_ps();
      const int units = q4k ? 8 : 16;  // sub-blocks of 32 / groups of 16
      for (int u = 0; u < units; ++u) {
        __m512i i0[R], i1[R];
        for (int r = 0; r < R; ++r) {
          if (q4k) {
            // activation rows for q4_k are stored reordered: see quantize_row_vnni
            static constexpr int kPos[4] = {0, 64, 32, 96};
            a[r] = rows[r].qs + b * 256 + 128 * (u / 4) + kPos[u % 4];
            i0[r] = i1[r] = _mm512_setzero_si512();
          } else {
            a[r] = rows[r].qs + b * 256 + 16 * u;
            i0[r] = i1[r] = _mm512_set1_epi32(-32 * rows[r].sums16[b * 16 + u]);  // the -32 offset
          }
        }
        panel_dots<R>(pb + (q4k ? 1024 : 512) * u, q4k ? 8 : 4, a, i0, i1);
        const __m512 s0 = _mm512_loadu_ps(pb + 8192 + 128 * u), s1 = _mm512_loadu_ps(pb + 8192 + 128 * u + 64);
        for (int r = 0; r < R; ++r) {
          t0[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[r]), s0, t0[r]);
          t1[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[r]), s1, t1[r]);
        }
      }
      if (q4k) {
        for (int j = 0; j < 8; ++j) {
          const __m512 m0 = _mm512_loadu_ps(pb + 9216 + 128 * j), m1 = _mm512_loadu_ps(pb + 9216 + 128 * j + 64);
          for (int r = 0; r < R; ++r) {
            const int16_t* s16 = rows[r].sums16 + b * 16;
            const __m512 bs = _mm512_set1_ps(static_cast<float>(s16[2 * j] + s16[2 * j + 1]));
            t0[r] = _mm512_fnmadd_ps(m0, bs, t0[r]);
            t1[r] = _mm512_fnmadd_ps(m1, bs, t1[r]);
          }
        }
      }
      for (int r = 0; r < R; ++r) {
        const __m512 da = _mm512_set1_ps(rows[r].d[b]);
        f0[r] = _mm512_fmadd_ps(t0[r], da, f0[r]);
        f1[r] = _mm512_fmadd_ps(t1[r], da, f1[r]);
      }
    }
  }
  const __mmask16 m0 = static_cast<__mmask16>(ncols >= 16 ? 0xFFFF : (1u << ncols) - 1u);
  const __mmask16 m1 = static_cast<__mmask16>(ncols >= 32 ? 0xFFFF : ncols <= 16 ? 0 : (1u << (ncols - 16)) - 1u);
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, m0, f0[r]);
    _mm512_mask_storeu_ps(y + r * ldy + 16, m1, f1[r]);
  }
}

void gemm_panel_vnni(const QTypeInfo& t, const uint8_t* panel, int64_t k, const ActRow* rows, int nrows, float* y,
                     int64_t ldy, int64_t ncols) {
  switch (nrows) {
    case 1: gemm_panel_rows<1>(t, panel, k, rows, y, ldy, ncols); break;
    case 2: gemm_panel_rows<2>(t, panel, k, rows, y, ldy, ncols); break;
    case 3: gemm_panel_rows<3>(t, panel, k, rows, y, ldy, ncols); break;
    default: gemm_panel_rows<4>(t, panel, k, rows, y, ldy, ncols); break;
  }
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

template <int R> struct Q8_0 { static void run(const uint8_t* w, int64_t k, const ActRow* a, float* o) { dot_blocks32<R, false>(w, k, a, o); } };
template <int R> struct Q4_0 { static void run(const uint8_t* w, int64_t k, const ActRow* a, float* o) { dot_blocks32<R, true>(w, k, a, o); } };
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
    quantize_row_vnni,
    {by_rows<Q4_0>, by_rows<Q8_0>, by_rows<Q4_K>, by_rows<Q6_K>},
    half_dot_vnni,
    half_to_float_vnni,
    pack_panel_vnni,
    gemm_panel_vnni,
};

}  // namespace strata::quant

#endif
