// Bindings of the quant kernels. Every argument is validated through checks.h before a pointer
// is formed: buffer lengths against block counts, leading dimensions against row sizes, row ids
// against the row count, and outputs against every input's memory.
//
// quantMatmul(type, w: Uint8Array, ldw, x: Float32Array, m, n, k, out: Float32Array)
//   out (m, n) = x (m, k) · W^T, W (n, k) in GGUF blocks of ggml type `type` (2 q4_0, 8 q8_0,
//   12 q4_k, 14 q6_k), row j at byte j*ldw of w.
// dequantizeRows(type, w: Uint8Array, ldw, k, rows, ids: Int32Array | null, out: Float32Array)
//   out (count, k) = rows ids[i] (every row when ids is null: count = rows) of W (rows, k).
// halfMatmul(bf16: boolean, w: Uint16Array, wOff, ldw, x: Float32Array, m, n, k, out)
//   out (m, n) = x (m, k) · W^T, W (n, k) f16 or bf16 bit patterns at w[wOff + j*ldw + p].
// quantIsa() -> 'avx512vnni' | 'avx2' | 'portable': the kernel table in use
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bindings.h"
#include "checks.h"
#include "quant/quant.h"

namespace strata::bindings {

namespace {

using u128 = unsigned __int128;

struct Bytes {
  const uint8_t* data = nullptr;
  size_t length = 0;  // elements
  size_t elem = 1;    // bytes per element
  uintptr_t begin() const { return reinterpret_cast<uintptr_t>(data); }
  uintptr_t end() const { return begin() + length * elem; }
};

Bytes typed_array(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name,
                  napi_typedarray_type type, const char* type_name) {
  const Napi::Value v = index < info.Length() ? info[index] : info.Env().Undefined();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    checks::throw_type_error(info.Env(), op, std::string(name) + " must be a " + type_name);
  }
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  Bytes b;
  b.elem = a.ElementSize();
  b.length = a.ElementLength();
  Napi::ArrayBuffer buf = a.ArrayBuffer();
  b.data = b.length == 0 || buf.Data() == nullptr ? nullptr : static_cast<const uint8_t*>(buf.Data()) + a.ByteOffset();
  if (b.data == nullptr) b.length = 0;
  return b;
}

Bytes float_array(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  const checks::Float32View v = checks::float32_array(info, index, op, name);
  Bytes b;
  b.data = reinterpret_cast<const uint8_t*>(v.data);
  b.length = v.length;
  b.elem = 4;
  return b;
}

quant::QTypeInfo qtype(const Napi::CallbackInfo& info, size_t index, const char* op) {
  const int64_t code = checks::integer_in_range(info, index, op, "type", 0, 255);
  quant::QTypeInfo t;
  if (!quant::qtype_info(static_cast<int>(code), &t)) {
    checks::throw_range_error(info.Env(), op, "type " + std::to_string(code) +
                                                  " is not a supported block format (2 q4_0, 8 q8_0, 12 q4_k, 14 q6_k)");
  }
  return t;
}

void require_fits(Napi::Env env, const char* op, const char* name, u128 needed, size_t length) {
  if (needed > static_cast<u128>(length)) {
    const std::string need = needed > static_cast<u128>(checks::kMaxSafeInteger)
                                 ? std::string("more than 2^53")
                                 : std::to_string(static_cast<uint64_t>(needed));
    checks::throw_range_error(env, op, std::string(name) + " is too short: the arguments need " + need +
                                           " elements but it has " + std::to_string(length));
  }
}

void require_disjoint(Napi::Env env, const char* op, const Bytes& out, const Bytes& in, const char* in_name) {
  if (out.length == 0 || in.length == 0) return;
  if (out.begin() < in.end() && in.begin() < out.end()) {
    checks::throw_range_error(env, op, std::string("out overlaps ") + in_name);
  }
}

// The bytes W (rows, k) occupies: (rows - 1) * ldw + row_bytes (0 when empty).
u128 weight_span(const quant::QTypeInfo& t, int64_t rows, int64_t k, int64_t ldw) {
  if (rows == 0 || k == 0) return 0;
  const u128 row_bytes = static_cast<u128>(k / t.block_values) * static_cast<u128>(t.block_bytes);
  return static_cast<u128>(rows - 1) * static_cast<u128>(ldw) + row_bytes;
}

void check_row_layout(Napi::Env env, const char* op, const quant::QTypeInfo& t, int64_t k, int64_t ldw, int64_t rows) {
  if (k % t.block_values != 0) {
    checks::throw_range_error(env, op, "k = " + std::to_string(k) + " is not a multiple of the block size " +
                                           std::to_string(t.block_values));
  }
  const int64_t row_bytes = k / t.block_values * t.block_bytes;
  if (rows > 1 && ldw < row_bytes) {
    checks::throw_range_error(env, op, "ldw = " + std::to_string(ldw) + " is shorter than a row of " +
                                           std::to_string(row_bytes) + " bytes");
  }
}

Napi::Value QuantMatmul(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "quantMatmul";
  Napi::Env env = info.Env();
  checks::require_arg_count(info, kOp, 8);
  const quant::QTypeInfo t = qtype(info, 0, kOp);
  const Bytes w = typed_array(info, 1, kOp, "w", napi_uint8_array, "Uint8Array");
  const int64_t ldw = checks::non_negative_integer(info, 2, kOp, "ldw");
  const Bytes x = float_array(info, 3, kOp, "x");
  const int64_t m = checks::non_negative_integer(info, 4, kOp, "m");
  const int64_t n = checks::non_negative_integer(info, 5, kOp, "n");
  const int64_t k = checks::non_negative_integer(info, 6, kOp, "k");
  const Bytes out = float_array(info, 7, kOp, "out");
  check_row_layout(env, kOp, t, k, ldw, n);
  const bool product = m > 0 && n > 0 && k > 0;
  require_fits(env, kOp, "w", product ? weight_span(t, n, k, ldw) : 0, w.length);
  require_fits(env, kOp, "x", product ? static_cast<u128>(m) * static_cast<u128>(k) : 0, x.length);
  require_fits(env, kOp, "out", static_cast<u128>(m) * static_cast<u128>(n), out.length);
  require_disjoint(env, kOp, out, x, "x");
  require_disjoint(env, kOp, out, w, "w");
  if (m == 0 || n == 0) return env.Undefined();
  return guarded(kOp, env, [&]() -> Napi::Value {
    quant::quant_matmul(t, w.data, ldw, reinterpret_cast<const float*>(x.data), m, n, k,
                        const_cast<float*>(reinterpret_cast<const float*>(out.data)));
    return env.Undefined();
  });
}

Napi::Value DequantizeRows(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "dequantizeRows";
  Napi::Env env = info.Env();
  checks::require_arg_count(info, kOp, 7);
  const quant::QTypeInfo t = qtype(info, 0, kOp);
  const Bytes w = typed_array(info, 1, kOp, "w", napi_uint8_array, "Uint8Array");
  const int64_t ldw = checks::non_negative_integer(info, 2, kOp, "ldw");
  const int64_t k = checks::non_negative_integer(info, 3, kOp, "k");
  const int64_t rows = checks::non_negative_integer(info, 4, kOp, "rows");
  const bool all = info[5].IsNull() || info[5].IsUndefined();
  const Bytes ids = all ? Bytes{} : typed_array(info, 5, kOp, "ids", napi_int32_array, "Int32Array or null");
  const Bytes out = float_array(info, 6, kOp, "out");
  check_row_layout(env, kOp, t, k, ldw, rows);
  const int64_t count = all ? rows : static_cast<int64_t>(ids.length);
  // a copy, so that ids in shared memory cannot change between this check and their use
  std::vector<int32_t> id_copy;
  if (!all && count > 0) {
    id_copy.resize(static_cast<size_t>(count));
    std::memcpy(id_copy.data(), ids.data, static_cast<size_t>(count) * sizeof(int32_t));
  }
  const int32_t* id = id_copy.data();
  for (int64_t i = 0; i < (all ? 0 : count); ++i) {
    if (id[i] < 0 || id[i] >= rows) {
      checks::throw_range_error(env, kOp, "ids[" + std::to_string(i) + "] = " + std::to_string(id[i]) +
                                              " is outside [0, " + std::to_string(rows) + ")");
    }
  }
  require_fits(env, kOp, "w", count > 0 ? weight_span(t, rows, k, ldw) : 0, w.length);
  require_fits(env, kOp, "out", static_cast<u128>(count) * static_cast<u128>(k), out.length);
  require_disjoint(env, kOp, out, w, "w");
  require_disjoint(env, kOp, out, ids, "ids");
  return guarded(kOp, env, [&]() -> Napi::Value {
    quant::dequantize_rows(t, w.data, ldw, k, all ? nullptr : id, count,
                           const_cast<float*>(reinterpret_cast<const float*>(out.data)));
    return env.Undefined();
  });
}

Napi::Value HalfMatmul(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "halfMatmul";
  Napi::Env env = info.Env();
  checks::require_arg_count(info, kOp, 9);
  const bool bf16 = checks::boolean(info, 0, kOp, "bf16");
  const Bytes w = typed_array(info, 1, kOp, "w", napi_uint16_array, "Uint16Array");
  const int64_t w_off = checks::non_negative_integer(info, 2, kOp, "wOff");
  const int64_t ldw = checks::non_negative_integer(info, 3, kOp, "ldw");
  const Bytes x = float_array(info, 4, kOp, "x");
  const int64_t m = checks::non_negative_integer(info, 5, kOp, "m");
  const int64_t n = checks::non_negative_integer(info, 6, kOp, "n");
  const int64_t k = checks::non_negative_integer(info, 7, kOp, "k");
  const Bytes out = float_array(info, 8, kOp, "out");
  if (n > 1 && k > 0 && ldw < k) {
    checks::throw_range_error(env, kOp, "ldw = " + std::to_string(ldw) + " is shorter than a row of k = " + std::to_string(k));
  }
  const bool product = m > 0 && n > 0 && k > 0;
  checks::MatrixSpan span_w{w_off, 1, 0, product ? n : 0, k, ldw};
  checks::require_in_bounds(env, kOp, "w", span_w, w.length);
  require_fits(env, kOp, "x", product ? static_cast<u128>(m) * static_cast<u128>(k) : 0, x.length);
  require_fits(env, kOp, "out", static_cast<u128>(m) * static_cast<u128>(n), out.length);
  require_disjoint(env, kOp, out, x, "x");
  require_disjoint(env, kOp, out, w, "w");
  if (m == 0 || n == 0) return env.Undefined();
  return guarded(kOp, env, [&]() -> Napi::Value {
    quant::half_matmul(bf16, reinterpret_cast<const uint16_t*>(w.data) + (product ? w_off : 0), ldw,
                       reinterpret_cast<const float*>(x.data), m, n, k,
                       const_cast<float*>(reinterpret_cast<const float*>(out.data)));
    return env.Undefined();
  });
}

Napi::Value QuantIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), quant::quant_kernels().name);
}

}  // namespace

void register_quant(Napi::Env env, Napi::Object exports) {
  exports.Set("quantMatmul", Napi::Function::New(env, QuantMatmul, "quantMatmul"));
  exports.Set("dequantizeRows", Napi::Function::New(env, DequantizeRows, "dequantizeRows"));
  exports.Set("halfMatmul", Napi::Function::New(env, HalfMatmul, "halfMatmul"));
  exports.Set("quantIsa", Napi::Function::New(env, QuantIsa, "quantIsa"));
}

}  // namespace strata::bindings
