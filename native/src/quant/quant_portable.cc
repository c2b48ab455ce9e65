// Portable (scalar C++) quant kernels, the scalar helpers, and row dequantization. Built for
// baseline x86-64 / any CPU: no target attributes, so no FMA contraction either, and the
// dequantized values equal src/tensor/quant.ts bit for bit.
#include <cmath>
#include <cstring>
#include <limits>

#include "quant/quant.h"

namespace strata::quant {

namespace {

// Round half to even for |v| < 2^22: adding and removing 1.5 * 2^23 leaves the rounded value
// (the compiler may not fold it: no -ffast-math).
inline int round_even(float v) {
  const float magic = 12582912.0f;
  return static_cast<int>((v + magic) - magic);
}

void quantize_row_portable(const QTypeInfo& t, const float* x, int64_t k, const ActRow& out) {
  const int block = t.act_block;
  for (int64_t b = 0; b < k / block; ++b) {
    const float* xb = x + b * block;
    int8_t* qb = out.qs + b * block;
    float amax = 0.0f;
    bool finite = true;
    for (int i = 0; i < block; ++i) {
      if (!std::isfinite(xb[i])) finite = false;
      else amax = std::fmax(amax, std::fabs(xb[i]));
    }
    if (!finite) {
      out.d[b] = std::numeric_limits<float>::quiet_NaN();
      std::memset(qb, 0, static_cast<size_t>(block));
      continue;
    }
    out.d[b] = t.code == QType::kQ8_0 || t.code == QType::kQ4_0 ? round_to_half(amax / 127.0f) : amax / 127.0f;
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < block; ++i) qb[i] = static_cast<int8_t>(round_even(xb[i] * id));
  }
  if (out.sums16 != nullptr) {
    for (int64_t g = 0; g < k / 16; ++g) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += out.qs[g * 16 + i];
      out.sums16[g] = static_cast<int16_t>(s);
    }
  }
}

// acc[r] += dw * d_r * (q . a_r) over activation block b of each row (32-value blocks).
void accumulate_block32(float dw, const int8_t* q, const ActRow* rows, int nrows, int64_t b, float* acc) {
  for (int r = 0; r < nrows; ++r) {
    const int8_t* a = rows[r].qs + b * 32;
    int s = 0;
    for (int i = 0; i < 32; ++i) s += q[i] * a[i];
    acc[r] += dw * rows[r].d[b] * static_cast<float>(s);
  }
}

void dot_q8_0(const uint8_t* w, int64_t k, const ActRow* rows, int nrows, float* out) {
  float acc[kMaxRows] = {0, 0, 0, 0};
  for (int64_t b = 0; b < k / 32; ++b) {
    const uint8_t* blk = w + b * 34;
    accumulate_block32(f16_to_f32(load_u16(blk)), reinterpret_cast<const int8_t*>(blk + 2), rows, nrows, b, acc);
  }
  for (int r = 0; r < nrows; ++r) out[r] = acc[r];
}

void dot_q4_0(const uint8_t* w, int64_t k, const ActRow* rows, int nrows, float* out) {
  float acc[kMaxRows] = {0, 0, 0, 0};
  for (int64_t b = 0; b < k / 32; ++b) {
    const uint8_t* blk = w + b * 18;
    const float dw = f16_to_f32(load_u16(blk));
    int8_t q[32];
    for (int j = 0; j < 16; ++j) {
      q[j] = static_cast<int8_t>((blk[2 + j] & 0xF) - 8);
      q[j + 16] = static_cast<int8_t>((blk[2 + j] >> 4) - 8);
    }
    accumulate_block32(dw, q, rows, nrows, b, acc);
  }
  for (int r = 0; r < nrows; ++r) out[r] = acc[r];
}

void dot_q4_k(const uint8_t* w, int64_t k, const ActRow* rows, int nrows, float* out) {
  float acc[kMaxRows] = {0, 0, 0, 0};
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 144;
    const float d = f16_to_f32(load_u16(blk));
    const float dmin = f16_to_f32(load_u16(blk + 2));
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) q4k_scale_min(blk + 4, j, &sc[j], &mn[j]);
    const uint8_t* qs = blk + 16;
    for (int r = 0; r < nrows; ++r) {
      const int8_t* a = rows[r].qs + b * 256;
      const int16_t* s16 = rows[r].sums16 + b * 16;
      int sumi = 0, summ = 0;
      for (int j = 0; j < 8; ++j) {
        const uint8_t* q = qs + 32 * (j >> 1);
        const int shift = (j & 1) * 4;
        int s = 0;
        for (int l = 0; l < 32; ++l) s += ((q[l] >> shift) & 0xF) * a[32 * j + l];
        sumi += sc[j] * s;
        summ += mn[j] * (s16[2 * j] + s16[2 * j + 1]);
      }
      const float da = rows[r].d[b];
      acc[r] += d * da * static_cast<float>(sumi) - dmin * da * static_cast<float>(summ);
    }
  }
  for (int r = 0; r < nrows; ++r) out[r] = acc[r];
}

void dot_q6_k(const uint8_t* w, int64_t k, const ActRow* rows, int nrows, float* out) {
  float acc[kMaxRows] = {0, 0, 0, 0};
  for (int64_t b = 0; b < k / 256; ++b) {
    const uint8_t* blk = w + b * 210;
    const float d = f16_to_f32(load_u16(blk + 208));
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
    uint8_t q[256];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk + 64 * h;
      const uint8_t* qh = blk + 128 + 32 * h;
      for (int l = 0; l < 32; ++l) {
        q[128 * h + l] = static_cast<uint8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
        q[128 * h + l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
        q[128 * h + l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
        q[128 * h + l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
      }
    }
    for (int r = 0; r < nrows; ++r) {
      const int8_t* a = rows[r].qs + b * 256;
      const int16_t* s16 = rows[r].sums16 + b * 16;
      int sumi = 0;
      for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int i = 0; i < 16; ++i) s += q[16 * g + i] * a[16 * g + i];
        sumi += sc[g] * (s - 32 * s16[g]);
      }
      acc[r] += d * rows[r].d[b] * static_cast<float>(sumi);
    }
  }
  for (int r = 0; r < nrows; ++r) out[r] = acc[r];
}

float bf16_to_f32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void half_to_float_portable(const uint16_t* src, int64_t n, bool bf16, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16 ? bf16_to_f32(src[i]) : f16_to_f32(src[i]);
}

void half_dot_portable(const uint16_t* w, int64_t ldw, bool bf16, int64_t n, int64_t k,
                       const float* x, int64_t ldx, int nrows, float* out, int64_t ldo) {
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t* row = w + j * ldw;
    float acc[kMaxRows] = {0, 0, 0, 0};
    for (int64_t p = 0; p < k; ++p) {
      const float v = bf16 ? bf16_to_f32(row[p]) : f16_to_f32(row[p]);
      for (int r = 0; r < nrows; ++r) acc[r] += v * x[r * ldx + p];
    }
    for (int r = 0; r < nrows; ++r) out[r * ldo + j] = acc[r];
  }
}

// ---- dequantization: the float operations and their order mirror src/tensor/quant.ts ----

void dequantize_block(const QTypeInfo& t, const uint8_t* b, float* y) {
  switch (t.code) {
    case QType::kQ8_0: {
      const float d = f16_to_f32(load_u16(b));
      for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(static_cast<int8_t>(b[2 + i]));
      return;
    }
    case QType::kQ4_0: {
      const float d = f16_to_f32(load_u16(b));
      for (int j = 0; j < 16; ++j) {
        y[j] = d * static_cast<float>((b[2 + j] & 0xF) - 8);
        y[j + 16] = d * static_cast<float>((b[2 + j] >> 4) - 8);
      }
      return;
    }
    case QType::kQ4_K: {
      const float d = f16_to_f32(load_u16(b));
      const float dmin = f16_to_f32(load_u16(b + 2));
      const uint8_t* qs = b + 16;
      for (int c = 0; c < 4; ++c) {
        int sc0, m0, sc1, m1;
        q4k_scale_min(b + 4, 2 * c, &sc0, &m0);
        q4k_scale_min(b + 4, 2 * c + 1, &sc1, &m1);
        const float d0 = d * static_cast<float>(sc0), n0 = dmin * static_cast<float>(m0);
        const float d1 = d * static_cast<float>(sc1), n1 = dmin * static_cast<float>(m1);
        for (int l = 0; l < 32; ++l) {
          const float lo = d0 * static_cast<float>(qs[32 * c + l] & 0xF);
          const float hi = d1 * static_cast<float>(qs[32 * c + l] >> 4);
          y[64 * c + l] = lo - n0;
          y[64 * c + 32 + l] = hi - n1;
        }
      }
      return;
    }
    case QType::kQ6_K: {
      const float d = f16_to_f32(load_u16(b + 208));
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = b + 64 * h;
        const uint8_t* qh = b + 128 + 32 * h;
        for (int l = 0; l < 32; ++l) {
          const int q[4] = {(ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4),
                            (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                            (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                            (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
          for (int s = 0; s < 4; ++s) {
            const int i = 128 * h + 32 * s + l;
            const float dg = d * static_cast<float>(static_cast<int8_t>(b[192 + i / 16]));
            y[i] = dg * static_cast<float>(q[s] - 32);
          }
        }
      }
      return;
    }
  }
}

}  // namespace

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // subnormal: value = mant * 2^-24, exact in f32
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    std::memcpy(&bits, &v, sizeof bits);
    bits |= sign;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

bool qtype_info(int code, QTypeInfo* out) {
  switch (code) {
    case 2: *out = {QType::kQ4_0, 32, 18, 32, 0}; return true;
    case 8: *out = {QType::kQ8_0, 32, 34, 32, 1}; return true;
    case 12: *out = {QType::kQ4_K, 256, 144, 256, 2}; return true;
    case 14: *out = {QType::kQ6_K, 256, 210, 256, 3}; return true;
    default: return false;
  }
}

void dequantize_rows_serial(const QTypeInfo& t, const uint8_t* w, int64_t ldw, int64_t k,
                            const int32_t* ids, int64_t r0, int64_t r1, float* out) {
  const int64_t nb = k / t.block_values;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + (ids != nullptr ? ids[r] : r) * ldw;
    for (int64_t b = 0; b < nb; ++b) {
      dequantize_block(t, row + b * t.block_bytes, out + r * k + b * t.block_values);
    }
  }
}

const QuantKernels kQuantPortable = {
    "portable",
    false,
    quantize_row_portable,
    {dot_q4_0, dot_q8_0, dot_q4_k, dot_q6_k},
    half_dot_portable,
    half_to_float_portable,
    nullptr,
    nullptr,
};

}  // namespace strata::quant
