// Fused scaled-dot-product attention (no (T, S) score tensor in memory between ops).
//
// Two routes compute the same function (the tests hold both to the reference backend):
// - a few queries (decode steps): one query row at a time, a dot product per key;
// - many queries: per (batch, head, block of queries) task, the scores of the block come from the
//   packed GEMM (Q_blk K^T, scaled), are masked and softmaxed in place while they sit in L2, and
//   the block's output is a second GEMM (P V) written straight into its rows of out. K and V are
//   read once per block instead of once per query row.
#include <algorithm>
#include <cmath>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "../cpu.h"
#include "../gemm.h"
#include "../scratch.h"
#include "../threadpool.h"
#include "kernels.h"
#include "reductions.h"
#include "vmath.h"

// ISA levels, not CPU models (see elementwise.cc).
#define STRATA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// No fused multiply-add contraction in the clones: every ISA then rounds exactly as the baseline
// build does, so results do not depend on the CPU (the tests and golden files were made that way).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace strata {
namespace {

// From this many queries on, the blocked (GEMM) route wins over the row kernel.
constexpr int64_t kBlockedMinQueries = 16;
// Queries per task on the blocked route: the (rows, S) score block stays in L2 for S up to ~2k.
// Each task packs its head's K and V, so fewer, taller blocks pack them fewer times (128 rather
// than 64: 110 -> 102 ms of a BERT-base forward at 128 tokens, 1 thread).
constexpr int64_t kQueryBlock = 128;

thread_local ScratchBuffer tl_scores;

// Keys [0, limit) that query i may see: all of them, or j <= i + (tk - tq) when causal.
int64_t key_limit(const AttentionArgs& a, int64_t i) {
  if (!a.causal) return a.tk;
  return std::min(a.tk, std::max<int64_t>(0, i + a.tk - a.tq + 1));
}

// Softmax of one row of scores in place, over keys [0, limit) plus the additive mask; keys from
// limit to n get weight 0. A row whose every key is masked (max = -inf) becomes all zeros, as in
// the reference backend.
STRATA_CLONES void softmax_scores(float* s, int64_t n, int64_t limit, const float* mask) {
  if (mask) {
    for (int64_t j = 0; j < limit; j++) s[j] += mask[j];
  }
  const float m = vm::max(s, limit);
  if (m == -INFINITY) {
    for (int64_t j = 0; j < n; j++) s[j] = 0.0f;
    return;
  }
  for (int64_t j = 0; j < limit; j++) {
    const float d = s[j] - m;
    const float e = vm::exp(d);
    s[j] = d < -87.3f ? 0.0f : e;
  }
  for (int64_t j = limit; j < n; j++) s[j] = 0.0f;
  const float inv = 1.0f / vm::sum(s, limit);
  for (int64_t j = 0; j < limit; j++) s[j] *= inv;
}

#if defined(__x86_64__) || defined(__i386__)
#define STRATA_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))

// vm::exp on 16 lanes, operation for operation (no FMA, as in the clones), so it rounds the same.
STRATA_AVX512 inline __m512 exp16(__m512 x) {
  x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_LT_OQ), x, _mm512_set1_ps(-87.3f));
  x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(88.7f), _CMP_GT_OQ), x, _mm512_set1_ps(88.7f));
  const __m512 shift = _mm512_set1_ps(12582912.0f);
  const __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), shift), shift);
  __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693145751953125f)));
  r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(1.428606765330187e-06f)));
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.5f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
  p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
  const __m512i two_n = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(two_n));
}

// softmax_scores on AVX-512: the same arithmetic in the same order (the 16-lane partial max and
// sum of vm::max / vm::sum, the tail before the lanes), in half the time of the auto-vectorized
// clone on 128-key rows, whose short loops and scalar reductions dominated it.
STRATA_AVX512 void softmax_scores_avx512(float* s, int64_t n, int64_t limit, const float* mask) {
  const int64_t full = limit & ~int64_t{15};
  const __mmask16 tail = static_cast<__mmask16>((1u << (limit - full)) - 1u);
  __m512 lanes_max = _mm512_set1_ps(-INFINITY);
  __mmask16 nan = 0;
  for (int64_t j = 0; j < full; j += 16) {
    __m512 v = _mm512_loadu_ps(s + j);
    if (mask) {
      v = _mm512_add_ps(v, _mm512_loadu_ps(mask + j));
      _mm512_storeu_ps(s + j, v);
    }
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    lanes_max = _mm512_max_ps(v, lanes_max);  // v > max ? v : max, as vm::max
  }
  float m = -INFINITY;
  for (int64_t j = full; j < limit; j++) {
    if (mask) s[j] += mask[j];
    nan |= s[j] != s[j];
    m = s[j] > m ? s[j] : m;
  }
  alignas(64) float lane[16];
  _mm512_store_ps(lane, lanes_max);
  for (int l = 0; l < 16; l++) m = lane[l] > m ? lane[l] : m;
  if (nan) m = NAN;
  if (m == -INFINITY) {
    for (int64_t j = 0; j < n; j++) s[j] = 0.0f;
    return;
  }
  const __m512 vmax = _mm512_set1_ps(m), floor = _mm512_set1_ps(-87.3f);
  __m512 lanes_sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < limit; j += 16) {
    const __mmask16 k = j < full ? static_cast<__mmask16>(0xFFFF) : tail;
    const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), vmax);
    const __m512 e = _mm512_maskz_mov_ps(static_cast<__mmask16>(~_mm512_cmp_ps_mask(d, floor, _CMP_LT_OQ)), exp16(d));
    _mm512_mask_storeu_ps(s + j, k, e);
    if (j < full) lanes_sum = _mm512_add_ps(lanes_sum, e);
  }
  for (int64_t j = limit; j < n; j++) s[j] = 0.0f;
  float total = 0.0f;
  for (int64_t j = full; j < limit; j++) total += s[j];
  _mm512_store_ps(lane, lanes_sum);
  for (int l = 0; l < 16; l++) total += lane[l];
  const __m512 inv = _mm512_set1_ps(1.0f / total);
  for (int64_t j = 0; j < limit; j += 16) {
    const __mmask16 k = j < full ? static_cast<__mmask16>(0xFFFF) : tail;
    _mm512_mask_storeu_ps(s + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), inv));
  }
}
#endif

// The row softmax of the blocked route, on the active instruction set.
void softmax_block_row(float* s, int64_t n, int64_t limit, const float* mask) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx512 = active_isa() == Isa::kAvx512;
  if (avx512) return softmax_scores_avx512(s, n, limit, mask);
#endif
  softmax_scores(s, n, limit, mask);
}

// One query row of attention: scores over keys [0, limit), softmax, weighted sum of values.
STRATA_CLONES void attention_row(const float* q, const float* k, int64_t k_row, const float* v, int64_t v_row,
                                 const float* mask, int64_t limit, int64_t d, float scale, float* scores, float* out) {
  float m = -INFINITY;
  for (int64_t j = 0; j < limit; j++) {
    float s = vm::dot(q, k + j * k_row, d) * scale;
    if (mask) s += mask[j];
    scores[j] = s;
    m = s > m ? s : m;
  }
  for (int64_t p = 0; p < d; p++) out[p] = 0.0f;
  if (m == -INFINITY) return;  // every key masked: zeros, as the reference backend
  for (int64_t j = 0; j < limit; j++) {
    const float diff = scores[j] - m;
    const float e = vm::exp(diff);
    scores[j] = diff < -87.3f ? 0.0f : e;
  }
  const float total = vm::sum(scores, limit);
  for (int64_t j = 0; j < limit; j++) {
    const float w = scores[j];
    if (w == 0.0f) continue;
    const float* vr = v + j * v_row;
    for (int64_t p = 0; p < d; p++) out[p] += w * vr[p];
  }
  const float inv = 1.0f / total;
  for (int64_t p = 0; p < d; p++) out[p] *= inv;
}

struct HeadPointers {
  const float* q;
  const float* k;
  const float* v;
  const float* mask;  // row 0 of this head's mask, or null
  float* out;
};

HeadPointers head_pointers(const AttentionArgs& a, int64_t b, int64_t h) {
  const int64_t kvh = h / (a.heads_q / a.heads_kv);
  return {
      a.q + b * a.ql.batch + h * a.ql.head,
      a.k + b * a.kl.batch + kvh * a.kl.head,
      a.v + b * a.vl.batch + kvh * a.vl.head,
      a.mask ? a.mask + b * a.ml.batch + h * a.ml.head : nullptr,
      a.out + b * a.ol.batch + h * a.ol.head,
  };
}

void attention_rows(const AttentionArgs& a) {
  const int64_t rows = a.batch * a.heads_q * a.tq;
  const int64_t per = std::max<int64_t>(1, 8192 / std::max<int64_t>(a.tk * a.head_dim, 1));
  parallel_for((rows + per - 1) / per, [&](int64_t task, int) {
    float* scores = tl_scores.floats(static_cast<size_t>(std::max<int64_t>(a.tk, 1)));
    const int64_t r1 = std::min(rows, (task + 1) * per);
    for (int64_t r = task * per; r < r1; r++) {
      const int64_t i = r % a.tq, bh = r / a.tq;
      const HeadPointers p = head_pointers(a, bh / a.heads_q, bh % a.heads_q);
      attention_row(p.q + i * a.ql.row, p.k, a.kl.row, p.v, a.vl.row, p.mask ? p.mask + i * a.ml.row : nullptr,
                    key_limit(a, i), a.head_dim, a.scale, scores, p.out + i * a.ol.row);
    }
  });
}

void attention_blocked(const AttentionArgs& a) {
  const int64_t blocks = (a.tq + kQueryBlock - 1) / kQueryBlock;
  parallel_for(a.batch * a.heads_q * blocks, [&](int64_t task, int) {
    const int64_t blk = task % blocks, bh = task / blocks;
    const HeadPointers p = head_pointers(a, bh / a.heads_q, bh % a.heads_q);
    const int64_t i0 = blk * kQueryBlock;
    const int64_t rows = std::min(kQueryBlock, a.tq - i0);
    const int64_t keys = key_limit(a, i0 + rows - 1);  // the widest row of the block
    float* out = p.out + i0 * a.ol.row;
    if (keys == 0) {
      for (int64_t i = 0; i < rows; i++) std::fill(out + i * a.ol.row, out + i * a.ol.row + a.head_dim, 0.0f);
      return;
    }
    float* s = tl_scores.floats(static_cast<size_t>(rows * keys));  // (rows, keys)
    GemmArgs qk;  // s = scale * Q_blk K^T
    qk.a = p.q + i0 * a.ql.row;
    qk.lda = a.ql.row;
    qk.b = p.k;
    qk.ldb = a.kl.row;
    qk.trans_b = true;
    qk.c = s;
    qk.ldc = keys;
    qk.m = rows;
    qk.n = keys;
    qk.k = a.head_dim;
    qk.alpha = a.scale;
    qk.serial = true;
    gemm_f32(qk);
    for (int64_t i = 0; i < rows; i++) {
      const float* mask = p.mask ? p.mask + (i0 + i) * a.ml.row : nullptr;
      softmax_block_row(s + i * keys, keys, key_limit(a, i0 + i), mask);
    }
    GemmArgs pv;  // out_blk = P V
    pv.a = s;
    pv.lda = keys;
    pv.b = p.v;
    pv.ldb = a.vl.row;
    pv.c = out;
    pv.ldc = a.ol.row;
    pv.m = rows;
    pv.n = a.head_dim;
    pv.k = keys;
    pv.serial = true;
    gemm_f32(pv);
  });
}

}  // namespace

void attention_f32(const AttentionArgs& a) {
  if (a.batch == 0 || a.heads_q == 0 || a.tq == 0 || a.head_dim == 0) return;
  if (a.tq >= kBlockedMinQueries) {
    attention_blocked(a);
  } else {
    attention_rows(a);
  }
}

}  // namespace strata
