// Quantized matmul on GGUF block formats, f16/bf16-weight matmul, and row dequantization.
//
//   y (M, N) = x (M, K) · W^T     W (N, K) stored row by row, `ldw` bytes (or elements) apart
//
// Block layouts are ggml's (see src/tensor/quant.ts for the byte-level description):
//   q8_0  34 B / 32 values    q4_0  18 B / 32 values
//   q4_k 144 B / 256 values   q6_k 210 B / 256 values
//
// The activations are first quantized row by row to 8 bits, per block of 32 (q8_0, q4_0) or 256
// (q4_k, q6_k): d = amax/127, q = rint(x * (127/amax)) in f32 with round-half-even, a non-finite
// block gets d = NaN. The block dot products are then exact integer sums scaled in f32. This is the
// math of quantizeActivations / quantMatmulReference in src/tensor/quant.ts, which the tests hold
// these kernels to. Letters: M activation rows, N weight rows, K values per row, R rows per call.
#pragma once

#include <cstdint>

namespace strata::quant {

// For q8_0 weights llama.cpp's CPU path stores the activation block scale as f16 (block_q8_0);
// rounding it the same way makes q8_0 products agree with llama.cpp's to the last bit.
inline float round_to_half(float x) { return static_cast<float>(static_cast<_Float16>(x)); }


// ggml_type numbers, used as the type codes of the bindings.
enum class QType : int { kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14 };

struct QTypeInfo {
  QType code;
  int block_values;  // values per block
  int block_bytes;   // bytes per block
  int act_block;     // activation block: 32 or 256
  int index;         // 0..3, index into the kernel tables
};

// False for codes that are not one of the four block formats.
bool qtype_info(int code, QTypeInfo* out);

constexpr int kMaxRows = 4;  // activation rows one dot kernel call handles

// One quantized activation row. Its layout belongs to the kernel table that wrote it (portable
// and AVX2: plain signed quants; see quant_avx512.cc for the VNNI layouts).
struct ActRow {
  int8_t* qs;       // K quants
  float* d;         // K / act_block scales
  float* d_exp;     // tables with `expanded32`, 32-blocks: each scale repeated 8 times
  int32_t* corr;    // tables with `expanded32`, 32-blocks: 8 int32 per block (see the table)
  int16_t* sums16;  // 256-blocks: K / 16 sums of 16 consecutive quants
};

// out[r] = dot(W row `w`, activation row rows[r]) for r < nrows (1..kMaxRows); k values.
using DotFn = void (*)(const uint8_t* w, int64_t k, const ActRow* rows, int nrows, float* out);

// Quantizes one row of k values (k a multiple of the activation block) for weights of type t.
using QuantizeRowFn = void (*)(const QTypeInfo& t, const float* x, int64_t k, const ActRow& out);

// out[r*ldo + j] for r < nrows, j < n: dot of activation row x + r*ldx (f32, k values) with
// weight row j of f16 (bf16 = false) or bf16 values at w + j*ldw.
using HalfDotFn = void (*)(const uint16_t* w, int64_t ldw, bool bf16, int64_t n, int64_t k,
                           const float* x, int64_t ldx, int nrows, float* out, int64_t ldo);

// Converts n f16/bf16 values to f32.
using HalfToFloatFn = void (*)(const uint16_t* src, int64_t n, bool bf16, float* dst);

// Packed panels for many activation rows (prefill): pack_panel lays out `ncols` (<= kPanelCols)
// weight rows starting at row j0 of W so that each vector lane holds one weight row, and
// gemm_panel computes y[r*ldy + j] for nrows (<= kMaxRows) activation rows and those columns.
constexpr int kPanelCols = 32;
using PackPanelFn = void (*)(const QTypeInfo& t, const uint8_t* w, int64_t ldw, int64_t j0, int64_t ncols,
                             int64_t k, uint8_t* panel);
using PanelGemmFn = void (*)(const QTypeInfo& t, const uint8_t* panel, int64_t k, const ActRow* rows, int nrows,
                             float* y, int64_t ldy, int64_t ncols);
// Bytes of one packed panel for k values: per 32-value block 32 dwords x 8 plus 32 scales; per
// 256-value block 64 x 32 dwords plus 16 x 32 (q6_k) or 2 x 8 x 32 (q4_k) scales.
inline int64_t panel_bytes(const QTypeInfo& t, int64_t k) {
  return t.block_values == 32 ? k / 32 * 1152 : k / 256 * 10240;
}

struct QuantKernels {
  const char* name;
  bool expanded32;  // 32-block activation rows carry d_exp and corr
  QuantizeRowFn quantize_row;
  DotFn dot[4];  // by QTypeInfo::index: q4_0, q8_0, q4_k, q6_k
  HalfDotFn half_dot;
  HalfToFloatFn half_to_float;
  PackPanelFn pack_panel;  // null when the table has no packed path
  PanelGemmFn gemm_panel;
};

extern const QuantKernels kQuantPortable;
extern const QuantKernels kQuantAvx2;
extern const QuantKernels kQuantAvx512Vnni;

// The table for the active ISA (native/src/cpu.h): AVX-512 needs VNNI too, else AVX2 is used.
const QuantKernels& quant_kernels();

// --- drivers (quant_matmul.cc): parallel over N on the shared pool ---

// Preconditions (checked by bind_quant.cc): k % block_values == 0, the weight rows
// [0, n) * ldw + k/block_values*block_bytes lie inside w, x holds m*k floats, y m*n, no overlap.
void quant_matmul(const QTypeInfo& t, const uint8_t* w, int64_t ldw, const float* x, int64_t m,
                  int64_t n, int64_t k, float* y);

// W (n, k) f16/bf16 at w + j*ldw (elements).
void half_matmul(bool bf16, const uint16_t* w, int64_t ldw, const float* x, int64_t m, int64_t n,
                 int64_t k, float* y);

// Rows ids[i] (or i when ids is null) of W (rows, k) into out (count, k). Portable code only, so
// the result equals src/tensor/quant.ts bit for bit.
void dequantize_rows(const QTypeInfo& t, const uint8_t* w, int64_t ldw, int64_t k,
                     const int32_t* ids, int64_t count, float* out);

// Rows [r0, r1) of dequantize_rows on the calling thread.
void dequantize_rows_serial(const QTypeInfo& t, const uint8_t* w, int64_t ldw, int64_t k,
                            const int32_t* ids, int64_t r0, int64_t r1, float* out);

// Scalar helpers shared by the kernel files.
float f16_to_f32(uint16_t h);
inline uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Scale and min of sub-block j (0..7) of a q4_k block from its 12 packed bytes.
inline void q4k_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

}  // namespace strata::quant
