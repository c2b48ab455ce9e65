// Plain C++ kernels behind the N-API bindings (bind_kernels.cc). Inputs were validated by the
// binding; the kernels trust their arguments. Each parallelizes on the shared thread pool and is
// compiled once per ISA (target_clones), chosen at load time.
#pragma once

#include <cstdint>

namespace strata {

constexpr int kMaxDims = 8;

// A strided view: data points at element 0 of the view; strides in elements.
struct StridedF32 {
  const float* data;
  int64_t strides[kMaxDims];
};

// Order matches UNARY_OPS in src/backend/native.ts.
enum class UnaryOp : int {
  kNeg, kExp, kLog, kSqrt, kRsqrt, kAbs, kSign, kTanh, kSigmoid, kRelu, kGelu, kGeluTanh, kSilu,
  kSin, kCos, kSquare, kReciprocal, kPowScalar, kAddScalar, kMulScalar, kGeluGrad, kGeluTanhGrad,
  kSiluGrad, kSigmoidGrad, kTanhGrad, kStep, kCount
};

// Order matches BINARY_OPS in src/backend/native.ts.
enum class BinaryOp : int { kAdd, kSub, kMul, kDiv, kPow, kMaximum, kMinimum, kCount };

// out (contiguous, prod(shape)) = op(x) for a strided x.
void unary_f32(UnaryOp op, int ndim, const int64_t* shape, const StridedF32& x, float scalar, float* out);
// out (contiguous) = op(a, b) with a, b already broadcast to shape (zero strides).
void binary_f32(BinaryOp op, int ndim, const int64_t* shape, const StridedF32& a, const StridedF32& b, float* out);
// Order matches COMPARE_OPS in src/backend/native.ts.
enum class CompareOp : int { kEq, kNe, kLt, kLe, kGt, kGe, kCount };

// out (contiguous bytes, 0/1) = a op b, both broadcast to shape.
void compare_f32(CompareOp op, int ndim, const int64_t* shape, const StridedF32& a, const StridedF32& b, uint8_t* out);
// out = cond ? a : b, all broadcast to shape.
void where_f32(int ndim, const int64_t* shape, const uint8_t* cond, const int64_t* cond_strides, const StridedF32& a,
               const StridedF32& b, float* out);
// Strided copy of elem_size-byte elements into a contiguous out (works for every dtype).
void copy_strided(int elem_size, int ndim, const int64_t* shape, const void* src, const int64_t* strides, void* out);

// Reductions over the middle axis of a contiguous (outer, n, inner) array. op: 0 sum, 1 max, 2 min.
void reduce_f32(int op, const float* x, int64_t outer, int64_t n, int64_t inner, float* out);

// Index of the max (op 0) or min (op 1) along the middle axis; NaN wins, first index on ties.
void arg_reduce_f32(int op, const float* x, int64_t outer, int64_t n, int64_t inner, int32_t* out);

// One token drawn from softmax(logits / temperature) under the top-k (0: off), top-p (1: off) and
// min-p (0: off) filters, with uniform in [0, 1); src/backend/sample.ts defines the arithmetic.
int64_t sample_f32(const float* logits, int64_t n, double temperature, int64_t top_k, double top_p, double min_p,
                   double uniform);

void softmax_f32(const float* x, int64_t rows, int64_t cols, float* out, bool log);
// Row-wise layer norm of x, or with residual (non-null) of x + residual, each sum rounded to f32 as
// the add kernel rounds it.
void layer_norm_f32(const float* x, const float* residual, const float* w, const float* b, int64_t rows, int64_t cols,
                    float eps, float* out, float* mean, float* rstd);
void rms_norm_f32(const float* x, const float* w, int64_t rows, int64_t cols, float eps, float* out, float* rstd);
// cos/sin: one (t, d/2) table per group of rows_per_table consecutive rows.
void rope_f32(const float* x, int64_t rows, int64_t t, int64_t d, const float* cos, const float* sin, int64_t rows_per_table,
              bool interleaved, bool inverse, float* out);

struct ConvGeometry {
  int64_t batch, channels, height, width, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, out_h, out_w;
};
void im2col_f32(const float* x, const ConvGeometry& g, float* cols);
void col2im_f32(const float* cols, const ConvGeometry& g, float* x);

// Where a (B, H, rows, cols) operand of attention lives: element (b, h, i, c) at
// data[b * batch + h * head + i * row + c]. Only the last axis must be contiguous, so q, k, v and
// out can be head-split views of (B, T, H, D) projections and a padding mask (B, 1, 1, S) can be
// read with row = head = 0, without copies.
struct AttentionLayout {
  int64_t batch, head, row;
};

struct AttentionArgs {
  const float* q;  // (B, Hq, T, D)
  const float* k;  // (B, Hkv, S, D)
  const float* v;  // (B, Hkv, S, D)
  const float* mask;  // additive (B|1, Hq|1, T|1, S), or null
  AttentionLayout ql, kl, vl, ml, ol;
  int64_t batch, heads_q, heads_kv, tq, tk, head_dim;
  float scale;
  bool causal;  // query i sees keys j <= i + (tk - tq)
  float* out;  // (B, Hq, T, D); ol.row >= D, and out shares no memory with the inputs
};
void attention_f32(const AttentionArgs& a);

}  // namespace strata
