#include "checks.h"

#include <cmath>
#include <cstdint>
#include <cstdio>

namespace strata::checks {

namespace {

std::string prefixed(const char* op, const std::string& message) {
  return std::string(op) + ": " + message;
}

std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: {
      const double d = v.As<Napi::Number>().DoubleValue();
      if (std::isnan(d)) return "NaN";
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.17g", d);
      return buf;
    }
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_bigint: return "a bigint";
    case napi_function: return "a function";
    case napi_external: return "an external";
    case napi_object:
      if (v.IsTypedArray()) {
        switch (v.As<Napi::TypedArray>().TypedArrayType()) {
          case napi_int8_array: return "an Int8Array";
          case napi_uint8_array: return "a Uint8Array";
          case napi_uint8_clamped_array: return "a Uint8ClampedArray";
          case napi_int16_array: return "an Int16Array";
          case napi_uint16_array: return "a Uint16Array";
          case napi_int32_array: return "an Int32Array";
          case napi_uint32_array: return "a Uint32Array";
          case napi_float32_array: return "a Float32Array";
          case napi_float64_array: return "a Float64Array";
          case napi_bigint64_array: return "a BigInt64Array";
          case napi_biguint64_array: return "a BigUint64Array";
          default: return "a typed array";
        }
      }
      if (v.IsArray()) return "an Array";
      if (v.IsArrayBuffer()) return "an ArrayBuffer";
      return "an object";
  }
  return "an unknown value";
}

Napi::Value arg(const Napi::CallbackInfo& info, size_t index) {
  return index < info.Length() ? info[index] : info.Env().Undefined();
}

using u128 = unsigned __int128;

}  // namespace

void throw_type_error(Napi::Env env, const char* op, const std::string& message) {
  throw Napi::TypeError::New(env, prefixed(op, message));
}

void throw_range_error(Napi::Env env, const char* op, const std::string& message) {
  throw Napi::RangeError::New(env, prefixed(op, message));
}

void require_arg_count(const Napi::CallbackInfo& info, const char* op, size_t count) {
  if (info.Length() < count) {
    throw_type_error(info.Env(), op, "expected " + std::to_string(count) + " arguments, got " +
                                         std::to_string(info.Length()));
  }
}

Float32View float32_array(const Napi::CallbackInfo& info, size_t index, const char* op,
                          const char* name) {
  const Napi::Value v = arg(info, index);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw_type_error(info.Env(), op, std::string(name) + " must be a Float32Array, got " + describe(v));
  }
  Napi::Float32Array array = v.As<Napi::Float32Array>();
  Float32View view;
  view.length = array.ElementLength();
  view.data = view.length == 0 ? nullptr : array.Data();
  if (view.data == nullptr) view.length = 0;
  return view;
}

int64_t integer_in_range(const Napi::CallbackInfo& info, size_t index, const char* op,
                         const char* name, int64_t lo, int64_t hi) {
  const Napi::Value v = arg(info, index);
  if (!v.IsNumber()) {
    throw_type_error(info.Env(), op, std::string(name) + " must be a number, got " + describe(v));
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
      d > static_cast<double>(hi)) {
    throw_range_error(info.Env(), op,
                      std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "], got " + describe(v));
  }
  return static_cast<int64_t>(d);
}

int64_t non_negative_integer(const Napi::CallbackInfo& info, size_t index, const char* op,
                             const char* name) {
  const Napi::Value v = arg(info, index);
  if (!v.IsNumber()) {
    throw_type_error(info.Env(), op, std::string(name) + " must be a number, got " + describe(v));
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > static_cast<double>(kMaxSafeInteger)) {
    throw_range_error(info.Env(), op,
                      std::string(name) + " must be a non-negative safe integer, got " + describe(v));
  }
  return static_cast<int64_t>(d);
}

double number(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  const Napi::Value v = arg(info, index);
  if (!v.IsNumber()) {
    throw_type_error(info.Env(), op, std::string(name) + " must be a number, got " + describe(v));
  }
  return v.As<Napi::Number>().DoubleValue();
}

bool boolean(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  const Napi::Value v = arg(info, index);
  if (!v.IsBoolean()) {
    throw_type_error(info.Env(), op, std::string(name) + " must be a boolean, got " + describe(v));
  }
  return v.As<Napi::Boolean>().Value();
}

void require_in_bounds(Napi::Env env, const char* op, const char* name, const MatrixSpan& s,
                       size_t length) {
  if (s.empty()) return;
  // Every input is below 2^53, so each product is below 2^106 and the sum fits in 128 bits.
  const u128 last = static_cast<u128>(s.offset) +
                    static_cast<u128>(s.batch - 1) * static_cast<u128>(s.batch_stride) +
                    static_cast<u128>(s.rows - 1) * static_cast<u128>(s.ld) +
                    static_cast<u128>(s.cols - 1);
  if (last >= static_cast<u128>(length)) {
    const std::string needed = last > static_cast<u128>(kMaxSafeInteger)
                                   ? std::string("more than 2^53")
                                   : std::to_string(static_cast<uint64_t>(last) + 1);
    throw_range_error(env, op,
                      std::string(name) + " is too short: the arguments touch " + needed +
                          " elements but it has " + std::to_string(length));
  }
}

int64_t span_end(const MatrixSpan& s) {
  if (s.empty()) return 0;
  return s.offset + (s.batch - 1) * s.batch_stride + (s.rows - 1) * s.ld + s.cols;
}

bool memory_overlaps(const float* a, int64_t a_begin, int64_t a_end, const float* b,
                     int64_t b_begin, int64_t b_end) {
  if (a_begin >= a_end || b_begin >= b_end) return false;
  const uintptr_t a_lo = reinterpret_cast<uintptr_t>(a + a_begin);
  const uintptr_t a_hi = reinterpret_cast<uintptr_t>(a + a_end);
  const uintptr_t b_lo = reinterpret_cast<uintptr_t>(b + b_begin);
  const uintptr_t b_hi = reinterpret_cast<uintptr_t>(b + b_end);
  return a_lo < b_hi && b_lo < a_hi;
}

}  // namespace strata::checks
