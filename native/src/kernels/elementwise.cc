#include <algorithm>
#include <array>
#include <utility>
#include <cmath>
#include <cstring>

#include "../gemm.h"
#include "../threadpool.h"
#include "kernels.h"
#include "vmath.h"

// ISA levels, not CPU models: GCC dispatches "arch=skylake-avx512" on the exact CPU model, so a
// Sapphire Rapids or Zen 4 ran the baseline SSE2 clone. x86-64-v4 / v3 dispatch on feature bits.
#define STRATA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// No fused multiply-add contraction in the clones: every ISA then rounds exactly as the baseline
// build does, so results do not depend on the CPU (the tests and golden files were made that way).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace strata {
namespace {

constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kGeluTanhC = 0.79788456080286536f;

STRATA_INLINE float apply_unary(UnaryOp op, float x, float s) {
  switch (op) {
    case UnaryOp::kNeg: return -x;
    case UnaryOp::kExp: {
      const float e = vm::exp(x);
      return x < -87.3f ? 0.0f : (x > 88.7f ? INFINITY : (x != x ? x : e));
    }
    case UnaryOp::kLog: {
      const float l = vm::log(x);
      const float special = x == 0 ? -INFINITY : (x == INFINITY ? x : NAN);
      return (x > 0) & (x < INFINITY) ? l : special;
    }
    case UnaryOp::kSqrt: return std::sqrt(x);
    case UnaryOp::kRsqrt: return 1.0f / std::sqrt(x);
    case UnaryOp::kAbs: return std::fabs(x);
    case UnaryOp::kSign: return x > 0 ? 1.0f : (x < 0 ? -1.0f : x);
    case UnaryOp::kTanh: return vm::tanh(x);
    case UnaryOp::kSigmoid: return vm::sigmoid(x);
    case UnaryOp::kRelu: return x > 0 ? x : 0.0f;
    case UnaryOp::kGelu: return 0.5f * x * (1.0f + vm::erf(x * kSqrtHalf));
    case UnaryOp::kGeluTanh: return 0.5f * x * (1.0f + vm::tanh(kGeluTanhC * (x + 0.044715f * x * x * x)));
    case UnaryOp::kSilu: return x * vm::sigmoid(x);
    case UnaryOp::kSin: return std::sin(x);
    case UnaryOp::kCos: return std::cos(x);
    case UnaryOp::kSquare: return x * x;
    case UnaryOp::kReciprocal: return 1.0f / x;
    case UnaryOp::kPowScalar: return s == 2.0f ? x * x : std::pow(x, s);
    case UnaryOp::kAddScalar: return x + s;
    case UnaryOp::kMulScalar: return x * s;
    case UnaryOp::kGeluGrad:
      return 0.5f * (1.0f + vm::erf(x * kSqrtHalf)) + x * kInvSqrt2Pi * vm::exp(-0.5f * x * x);
    case UnaryOp::kGeluTanhGrad: {
      const float t = vm::tanh(kGeluTanhC * (x + 0.044715f * x * x * x));
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kGeluTanhC * (1.0f + 3.0f * 0.044715f * x * x);
    }
    case UnaryOp::kSiluGrad: {
      const float sg = vm::sigmoid(x);
      return sg * (1.0f + x * (1.0f - sg));
    }
    case UnaryOp::kSigmoidGrad: {
      const float sg = vm::sigmoid(x);
      return sg * (1.0f - sg);
    }
    case UnaryOp::kTanhGrad: {
      const float t = vm::tanh(x);
      return 1.0f - t * t;
    }
    case UnaryOp::kStep: return x > 0 ? 1.0f : 0.0f;
    default: return NAN;
  }
}

// One instantiation per op so the loop body is a straight line the vectorizer can handle.
template <UnaryOp Op>
STRATA_CLONES void unary_row(const float* x, int64_t stride, float s, float* out, int64_t n) {
  if (stride == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = apply_unary(Op, x[i], s);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = apply_unary(Op, x[i * stride], s);
  }
}

using UnaryRowFn = void (*)(const float*, int64_t, float, float*, int64_t);

template <int... I>
constexpr auto make_unary_table(std::integer_sequence<int, I...>) {
  return std::array<UnaryRowFn, sizeof...(I)>{&unary_row<static_cast<UnaryOp>(I)>...};
}

// GELU (erf) of a rows x cols block (row strides ldx and ldo; out may be x): apply_unary's kGelu
// operation for operation, so the same bits, but run stage by stage (t, the erfc exponent, its
// exponential, the product) over up to kGeluChunk values at a time. Each stage is then a loop of
// independent short chains; value by value, erf's one long dependency chain (~250 cycles) left the
// vector units waiting: 4.3 -> 2.5 cycles a value on an 8 x 48 GEMM tile (AVX-512).
constexpr int64_t kGeluChunk = 512;

STRATA_CLONES void gelu_block(const float* x, int64_t ldx, float* out, int64_t ldo, int64_t rows, int64_t cols) {
  alignas(64) float t[kGeluChunk];
  alignas(64) float e[kGeluChunk];
  const int64_t width = std::min(cols, kGeluChunk);
  const int64_t rows_per = kGeluChunk / std::max<int64_t>(width, 1);
  for (int64_t c0 = 0; c0 < cols; c0 += width) {
    const int64_t w = std::min(width, cols - c0);
    for (int64_t r0 = 0; r0 < rows; r0 += rows_per) {
      const int64_t rr = std::min(rows_per, rows - r0);
      for (int64_t r = 0; r < rr; r++) {
        const float* xr = x + (r0 + r) * ldx + c0;
        float* tr = t + r * w;
        for (int64_t j = 0; j < w; j++) {
          const float a = xr[j] * kSqrtHalf;
          tr[j] = vm::erfc_t(a < 0 ? -a : a);
        }
      }
      for (int64_t r = 0; r < rr; r++) {
        const float* xr = x + (r0 + r) * ldx + c0;
        const float* tr = t + r * w;
        float* er = e + r * w;
        for (int64_t j = 0; j < w; j++) {
          const float a = xr[j] * kSqrtHalf;
          er[j] = vm::erfc_exponent(a < 0 ? -a : a, tr[j]);
        }
      }
      for (int64_t i = 0; i < rr * w; i++) e[i] = vm::erfc_exp(e[i]);
      for (int64_t r = 0; r < rr; r++) {
        const float* xr = x + (r0 + r) * ldx + c0;
        const float* tr = t + r * w;
        const float* er = e + r * w;
        float* orow = out + (r0 + r) * ldo + c0;
        for (int64_t j = 0; j < w; j++) {
          const float v = xr[j];
          orow[j] = 0.5f * v * (1.0f + vm::erf_finish(v * kSqrtHalf, tr[j], er[j]));
        }
      }
    }
  }
}

// The kGelu row of unary_f32: contiguous rows go through gelu_block.
void gelu_row(const float* x, int64_t stride, float s, float* out, int64_t n) {
  if (stride == 1) {
    gelu_block(x, n, out, n, 1, n);
  } else {
    unary_row<UnaryOp::kGelu>(x, stride, s, out, n);
  }
}

STRATA_INLINE float apply_binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
    case BinaryOp::kPow: return std::pow(a, b);
    case BinaryOp::kMaximum: return (a > b || a != a) ? a : b;
    case BinaryOp::kMinimum: return (a < b || a != a) ? a : b;
    default: return NAN;
  }
}

template <BinaryOp Op>
STRATA_CLONES void binary_row(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = apply_binary(Op, a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; i++) out[i] = apply_binary(Op, a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; i++) out[i] = apply_binary(Op, av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = apply_binary(Op, a[i * sa], b[i * sb]);
  }
}

using BinaryRowFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t);

template <int... I>
constexpr auto make_binary_table(std::integer_sequence<int, I...>) {
  return std::array<BinaryRowFn, sizeof...(I)>{&binary_row<static_cast<BinaryOp>(I)>...};
}

// Splits a row-major walk over `shape` into contiguous chunks of rows for the pool. Each row is
// the innermost dimension; `row(r, offsets...)` receives the row index and per-view offsets.
struct RowWalk {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t rows = 1;
  int64_t len = 1;

  RowWalk(int nd, const int64_t* sh) : ndim(nd) {
    for (int i = 0; i < nd; i++) shape[i] = sh[i];
    len = nd > 0 ? sh[nd - 1] : 1;
    for (int i = 0; i + 1 < nd; i++) rows *= sh[i];
  }

  // Offset of row r's first element for a view with these strides.
  int64_t offset(int64_t r, const int64_t* strides) const {
    int64_t off = 0;
    for (int d = ndim - 2; d >= 0; d--) {
      const int64_t i = r % shape[d];
      r /= shape[d];
      off += i * strides[d];
    }
    return off;
  }
};

template <class Fn>
void for_rows(const RowWalk& w, Fn&& fn) {
  const int64_t total = w.rows * w.len;
  if (total == 0) return;
  // about 16k elements per task keeps the pool's overhead small
  const int64_t rows_per_task = std::max<int64_t>(1, 16384 / std::max<int64_t>(w.len, 1));
  const int64_t tasks = (w.rows + rows_per_task - 1) / rows_per_task;
  parallel_for(tasks, [&](int64_t t, int) {
    const int64_t r0 = t * rows_per_task;
    const int64_t r1 = std::min(w.rows, r0 + rows_per_task);
    for (int64_t r = r0; r < r1; r++) fn(r);
  });
}

}  // namespace

void apply_epilogue_f32(GemmEpilogue act, float* c, int64_t ldc, int64_t rows, int64_t cols) {
  // the unary kernels' own arithmetic, so a fused epilogue rounds exactly as the separate op
  if (act == GemmEpilogue::kGelu) {
    gelu_block(c, ldc, c, ldc, rows, cols);
  } else if (act == GemmEpilogue::kGeluTanh) {
    for (int64_t i = 0; i < rows; i++) unary_row<UnaryOp::kGeluTanh>(c + i * ldc, 1, 0.0f, c + i * ldc, cols);
  }
}

void unary_f32(UnaryOp op, int ndim, const int64_t* shape, const StridedF32& x, float s, float* out) {
  static constexpr auto table = make_unary_table(std::make_integer_sequence<int, static_cast<int>(UnaryOp::kCount)>{});
  const UnaryRowFn row = op == UnaryOp::kGelu ? &gelu_row : table[static_cast<int>(op)];
  RowWalk w(ndim, shape);
  const int64_t inner = ndim > 0 ? x.strides[ndim - 1] : 1;
  for_rows(w, [&](int64_t r) { row(x.data + w.offset(r, x.strides), inner, s, out + r * w.len, w.len); });
}

void binary_f32(BinaryOp op, int ndim, const int64_t* shape, const StridedF32& a, const StridedF32& b, float* out) {
  static constexpr auto table = make_binary_table(std::make_integer_sequence<int, static_cast<int>(BinaryOp::kCount)>{});
  const BinaryRowFn row = table[static_cast<int>(op)];
  RowWalk w(ndim, shape);
  const int64_t ia = ndim > 0 ? a.strides[ndim - 1] : 1;
  const int64_t ib = ndim > 0 ? b.strides[ndim - 1] : 1;
  for_rows(w, [&](int64_t r) {
    row(a.data + w.offset(r, a.strides), ia, b.data + w.offset(r, b.strides), ib, out + r * w.len, w.len);
  });
}

namespace {
template <CompareOp Op>
STRATA_CLONES void compare_row(const float* a, int64_t sa, const float* b, int64_t sb, uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float x = a[i * sa], y = b[i * sb];
    bool r;
    switch (Op) {
      case CompareOp::kEq: r = x == y; break;
      case CompareOp::kNe: r = x != y; break;
      case CompareOp::kLt: r = x < y; break;
      case CompareOp::kLe: r = x <= y; break;
      case CompareOp::kGt: r = x > y; break;
      default: r = x >= y; break;
    }
    out[i] = r ? 1 : 0;
  }
}

using CompareRowFn = void (*)(const float*, int64_t, const float*, int64_t, uint8_t*, int64_t);

template <int... I>
constexpr auto make_compare_table(std::integer_sequence<int, I...>) {
  return std::array<CompareRowFn, sizeof...(I)>{&compare_row<static_cast<CompareOp>(I)>...};
}
}  // namespace

void compare_f32(CompareOp op, int ndim, const int64_t* shape, const StridedF32& a, const StridedF32& b, uint8_t* out) {
  static constexpr auto table = make_compare_table(std::make_integer_sequence<int, static_cast<int>(CompareOp::kCount)>{});
  const CompareRowFn row = table[static_cast<int>(op)];
  RowWalk w(ndim, shape);
  const int64_t ia = ndim > 0 ? a.strides[ndim - 1] : 1;
  const int64_t ib = ndim > 0 ? b.strides[ndim - 1] : 1;
  for_rows(w, [&](int64_t r) {
    row(a.data + w.offset(r, a.strides), ia, b.data + w.offset(r, b.strides), ib, out + r * w.len, w.len);
  });
}

void where_f32(int ndim, const int64_t* shape, const uint8_t* cond, const int64_t* cs, const StridedF32& a,
               const StridedF32& b, float* out) {
  RowWalk w(ndim, shape);
  const int64_t ic = ndim > 0 ? cs[ndim - 1] : 1;
  const int64_t ia = ndim > 0 ? a.strides[ndim - 1] : 1;
  const int64_t ib = ndim > 0 ? b.strides[ndim - 1] : 1;
  for_rows(w, [&](int64_t r) {
    const uint8_t* c = cond + w.offset(r, cs);
    const float* pa = a.data + w.offset(r, a.strides);
    const float* pb = b.data + w.offset(r, b.strides);
    float* o = out + r * w.len;
    for (int64_t i = 0; i < w.len; i++) o[i] = c[i * ic] ? pa[i * ia] : pb[i * ib];
  });
}

namespace {
template <class T>
void copy_typed(int ndim, const int64_t* shape, const T* src, const int64_t* strides, T* out) {
  RowWalk w(ndim, shape);
  const int64_t inner = ndim > 0 ? strides[ndim - 1] : 1;
  for_rows(w, [&](int64_t r) {
    const T* s = src + w.offset(r, strides);
    T* o = out + r * w.len;
    if (inner == 1) {
      std::memcpy(o, s, static_cast<size_t>(w.len) * sizeof(T));
    } else {
      for (int64_t i = 0; i < w.len; i++) o[i] = s[i * inner];
    }
  });
}
}  // namespace

void copy_strided(int elem_size, int ndim, const int64_t* shape, const void* src, const int64_t* strides, void* out) {
  switch (elem_size) {
    case 1: return copy_typed(ndim, shape, static_cast<const uint8_t*>(src), strides, static_cast<uint8_t*>(out));
    case 2: return copy_typed(ndim, shape, static_cast<const uint16_t*>(src), strides, static_cast<uint16_t*>(out));
    case 4: return copy_typed(ndim, shape, static_cast<const uint32_t*>(src), strides, static_cast<uint32_t*>(out));
    default: return copy_typed(ndim, shape, static_cast<const uint64_t*>(src), strides, static_cast<uint64_t*>(out));
  }
}

}  // namespace strata
