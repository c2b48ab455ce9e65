// gemmF32(a, aOff, lda, transA, b, bOff, ldb, transB, c, cOff, ldc,
//         M, N, K, batch, sA, sB, sC, alpha, beta) -> undefined
//
// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] for b < batch, on Float32Arrays, row-major.
// Matrix X of batch b starts at element xOff + b*sX; element (r, c) of X as stored is at
// r*ldX + c. A is stored M x K (K x M when transA), B is K x N (N x K when transB), C is M x N.
// Optional: 21st the epilogue, 22nd a bias row, 23rd op(B) packed by gemmPackB (then b may be
// null and is not read).
//
// gemmPackB(b, bOff, ldb, transB, K, N) -> Float32Array: op(B) in the GEMM's packed panel
// layout, for a weight used by many calls. gemmPackedLength(K, N) -> its length.
#include <napi.h>

#include <cstdint>
#include <vector>

#include "bindings.h"
#include "checks.h"
#include "gemm.h"

namespace strata::bindings {

namespace {

constexpr const char* kOp = "gemmF32";
constexpr int64_t kMaxBatch = (int64_t{1} << 31) - 1;

void require_leading_dim(Napi::Env env, const char* name, const char* matrix, int64_t ld,
                         int64_t rows, int64_t cols) {
  if (rows > 0 && cols > 0 && ld < cols) {
    checks::throw_range_error(env, kOp,
                              std::string(name) + " must be at least " + std::to_string(cols) +
                                  " (the row length of " + matrix + " as stored), got " +
                                  std::to_string(ld));
  }
}

// Packed panels start at the first 64-byte boundary of the array (the kernels load them with
// aligned vector loads); the array holds that many floats more than the panels need.
constexpr int64_t kAlignFloats = 16;

int64_t aligned_start(const float* data) {
  const auto addr = reinterpret_cast<std::uintptr_t>(data);
  return static_cast<int64_t>(((64 - addr % 64) % 64) / sizeof(float));
}

int64_t packed_length(int64_t k, int64_t n) { return gemm_packed_b_size(k, n) + kAlignFloats; }

// K and N of a packed operand, both at most 2^31 so that their product stays exact.
constexpr int64_t kMaxPackedDim = int64_t{1} << 31;

Napi::Value GemmF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checks::require_arg_count(info, kOp, 20);
  const bool packed_given = info.Length() > 22 && !info[22].IsUndefined() && !info[22].IsNull();
  // optional 21st argument: the epilogue activation (GemmEpilogue: 0 none, 1 gelu, 2 geluTanh)
  const int64_t epilogue = info.Length() > 20 && !info[20].IsUndefined() ? checks::integer_in_range(info, 20, kOp, "epilogue", 0, 2) : 0;
  const checks::Float32View a = checks::float32_array(info, 0, kOp, "a");
  const int64_t a_off = checks::non_negative_integer(info, 1, kOp, "aOff");
  const int64_t lda = checks::non_negative_integer(info, 2, kOp, "lda");
  const bool trans_a = checks::boolean(info, 3, kOp, "transA");
  // with packed panels B itself may be absent (a weight group packed as one matrix)
  const checks::Float32View b = packed_given && info[4].IsNull() ? checks::Float32View{} : checks::float32_array(info, 4, kOp, "b");
  const int64_t b_off = checks::non_negative_integer(info, 5, kOp, "bOff");
  const int64_t ldb = checks::non_negative_integer(info, 6, kOp, "ldb");
  const bool trans_b = checks::boolean(info, 7, kOp, "transB");
  const checks::Float32View c = checks::float32_array(info, 8, kOp, "c");
  const int64_t c_off = checks::non_negative_integer(info, 9, kOp, "cOff");
  const int64_t ldc = checks::non_negative_integer(info, 10, kOp, "ldc");
  const int64_t m = checks::non_negative_integer(info, 11, kOp, "M");
  const int64_t n = checks::non_negative_integer(info, 12, kOp, "N");
  const int64_t k = checks::non_negative_integer(info, 13, kOp, "K");
  const int64_t batch = checks::integer_in_range(info, 14, kOp, "batch", 0, kMaxBatch);
  const int64_t s_a = checks::non_negative_integer(info, 15, kOp, "sA");
  const int64_t s_b = checks::non_negative_integer(info, 16, kOp, "sB");
  const int64_t s_c = checks::non_negative_integer(info, 17, kOp, "sC");
  const double alpha = checks::number(info, 18, kOp, "alpha");
  const double beta = checks::number(info, 19, kOp, "beta");
  // optional 22nd argument: a bias row of N values every row of C starts from (beta must be 0);
  // copied, so it may share memory with anything
  std::vector<float> bias;
  if (info.Length() > 21 && !info[21].IsUndefined()) {
    const checks::Float32View bv = checks::float32_array(info, 21, kOp, "bias");
    if (static_cast<int64_t>(bv.length) < n) checks::throw_range_error(env, kOp, "bias must hold at least N = " + std::to_string(n) + " values, got " + std::to_string(bv.length));
    if (beta != 0.0) checks::throw_range_error(env, kOp, "a bias needs beta = 0 (C starts from the bias), got beta " + std::to_string(beta));
    bias.assign(bv.data, bv.data + n);
  }

  // Stored shapes: A is M x K (K x M transposed), B is K x N (N x K transposed), C is M x N.
  const int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
  const int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  require_leading_dim(env, "lda", "A", lda, a_rows, a_cols);
  require_leading_dim(env, "ldb", "B", ldb, b_rows, b_cols);
  require_leading_dim(env, "ldc", "C", ldc, m, n);

  // A and B are read only when there is something to compute; C is touched whenever M, N > 0.
  const bool product = m > 0 && n > 0 && k > 0 && batch > 0;
  checks::MatrixSpan span_a{a_off, batch, s_a, product ? a_rows : 0, a_cols, lda};
  checks::MatrixSpan span_b{b_off, batch, s_b, product ? b_rows : 0, b_cols, ldb};
  checks::MatrixSpan span_c{c_off, batch, s_c, m, n, ldc};
  checks::require_in_bounds(env, kOp, "a", span_a, a.length);
  if (b.data != nullptr || !packed_given) checks::require_in_bounds(env, kOp, "b", span_b, b.length);
  checks::require_in_bounds(env, kOp, "c", span_c, c.length);
  const float* packed_b = nullptr;
  if (packed_given) {
    const checks::Float32View pv = checks::float32_array(info, 22, kOp, "packedB");
    if (k > kMaxPackedDim || n > kMaxPackedDim) checks::throw_range_error(env, kOp, "packedB: K and N must be at most 2^31");
    const int64_t need = packed_length(k, n);
    if (static_cast<int64_t>(pv.length) != need) {
      checks::throw_range_error(env, kOp, "packedB must hold " + std::to_string(need) + " floats (gemmPackB of a " + std::to_string(k) + " x " + std::to_string(n) + " op(B)), got " + std::to_string(pv.length));
    }
    if (!span_c.empty() && checks::memory_overlaps(pv.data, 0, need, c.data, c_off, checks::span_end(span_c))) {
      checks::throw_range_error(env, kOp, "packedB shares memory with c");
    }
    if (product) packed_b = pv.data + aligned_start(pv.data);
  }
  if (span_c.empty()) return env.Undefined();

  return guarded(kOp, env, [&]() -> Napi::Value {
    GemmArgs p;
    p.a = product ? a.data + a_off : nullptr;
    p.b = product && packed_b == nullptr ? b.data + b_off : nullptr;
    p.c = c.data + c_off;
    p.lda = lda;
    p.ldb = ldb;
    p.ldc = ldc;
    p.trans_a = trans_a;
    p.trans_b = trans_b;
    p.m = m;
    p.n = n;
    p.k = product ? k : 0;
    p.batch = batch;
    p.stride_a = s_a;
    p.stride_b = s_b;
    p.stride_c = s_c;
    p.alpha = static_cast<float>(alpha);
    p.beta = static_cast<float>(beta);
    p.epilogue = static_cast<GemmEpilogue>(epilogue);
    p.bias = bias.empty() ? nullptr : bias.data();
    p.packed_b = packed_b;
    if (packed_b != nullptr) p.stride_b = 0;

    // When C shares memory with an input (views of one buffer), read that input from a copy so
    // that writing C cannot change what is still to be read.
    const int64_t c_end = checks::span_end(span_c);
    std::vector<float> a_copy, b_copy;
    if (product) {
      const int64_t a_end = checks::span_end(span_a), b_end = checks::span_end(span_b);
      if (checks::memory_overlaps(a.data, a_off, a_end, c.data, c_off, c_end)) {
        a_copy.assign(a.data + a_off, a.data + a_end);
        p.a = a_copy.data();
      }
      if (p.b != nullptr && checks::memory_overlaps(b.data, b_off, b_end, c.data, c_off, c_end)) {
        b_copy.assign(b.data + b_off, b.data + b_end);
        p.b = b_copy.data();
      }
    }
    gemm_f32(p);
    return env.Undefined();
  });
}

constexpr const char* kPackOp = "gemmPackB";

Napi::Value GemmPackB(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checks::require_arg_count(info, kPackOp, 6);
  const checks::Float32View b = checks::float32_array(info, 0, kPackOp, "b");
  const int64_t b_off = checks::non_negative_integer(info, 1, kPackOp, "bOff");
  const int64_t ldb = checks::non_negative_integer(info, 2, kPackOp, "ldb");
  const bool trans_b = checks::boolean(info, 3, kPackOp, "transB");
  const int64_t k = checks::integer_in_range(info, 4, kPackOp, "K", 1, kMaxPackedDim);
  const int64_t n = checks::integer_in_range(info, 5, kPackOp, "N", 1, kMaxPackedDim);
  const int64_t rows = trans_b ? n : k, cols = trans_b ? k : n;
  if (ldb < cols) checks::throw_range_error(env, kPackOp, "ldb must be at least " + std::to_string(cols) + " (the row length of B as stored), got " + std::to_string(ldb));
  checks::require_in_bounds(env, kPackOp, "b", checks::MatrixSpan{b_off, 1, 0, rows, cols, ldb}, b.length);
  const int64_t length = packed_length(k, n);
  if (length > checks::kMaxSafeInteger / 4) checks::throw_range_error(env, kPackOp, "the packed operand is too large");
  return guarded(kPackOp, env, [&]() -> Napi::Value {
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(length));
    float* dst = out.Data();
    gemm_pack_b(b.data + b_off, ldb, trans_b, k, n, dst + aligned_start(dst));
    return out;
  });
}

Napi::Value GemmPackedLength(const Napi::CallbackInfo& info) {
  checks::require_arg_count(info, "gemmPackedLength", 2);
  const int64_t k = checks::integer_in_range(info, 0, "gemmPackedLength", "K", 1, kMaxPackedDim);
  const int64_t n = checks::integer_in_range(info, 1, "gemmPackedLength", "N", 1, kMaxPackedDim);
  return Napi::Number::New(info.Env(), static_cast<double>(packed_length(k, n)));
}

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemmF32", Napi::Function::New(env, GemmF32, kOp));
  exports.Set("gemmPackB", Napi::Function::New(env, GemmPackB, kPackOp));
  exports.Set("gemmPackedLength", Napi::Function::New(env, GemmPackedLength, "gemmPackedLength"));
}

}  // namespace strata::bindings
