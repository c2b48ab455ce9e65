// Argument checks shared by every binding. Native code never trusts its caller: each exported
// function reads its arguments only through these helpers, which throw a JS TypeError or
// RangeError whose message starts with "<op>: " and names the argument.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace strata::checks {

// Largest integer a JS number holds exactly (Number.MAX_SAFE_INTEGER).
constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

[[noreturn]] void throw_type_error(Napi::Env env, const char* op, const std::string& message);
[[noreturn]] void throw_range_error(Napi::Env env, const char* op, const std::string& message);

// Throws unless the call has at least `count` arguments.
void require_arg_count(const Napi::CallbackInfo& info, const char* op, size_t count);

// A Float32Array argument: its first element and element count. `data` may be null when the
// array is empty or its buffer is detached (length is 0 then).
struct Float32View {
  float* data = nullptr;
  size_t length = 0;
};
Float32View float32_array(const Napi::CallbackInfo& info, size_t index, const char* op,
                          const char* name);

// A number that is an integer in [0, Number.MAX_SAFE_INTEGER].
int64_t non_negative_integer(const Napi::CallbackInfo& info, size_t index, const char* op,
                             const char* name);

// A number in [lo, hi] that is an integer.
int64_t integer_in_range(const Napi::CallbackInfo& info, size_t index, const char* op,
                         const char* name, int64_t lo, int64_t hi);

// Any JS number (NaN and infinities included).
double number(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);

bool boolean(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);

// The elements a strided batch of matrices touches: element (b, r, c) lives at
// offset + b*batch_stride + r*ld + c, for b < batch, r < rows, c < cols.
struct MatrixSpan {
  int64_t offset = 0;
  int64_t batch = 1, batch_stride = 0;
  int64_t rows = 0, cols = 0, ld = 0;

  bool empty() const { return batch == 0 || rows == 0 || cols == 0; }
};

// Throws a RangeError naming `name` unless every element of `span` (when non-empty) is inside an
// array of `length` elements. Arithmetic is overflow-safe for any inputs below 2^53.
void require_in_bounds(Napi::Env env, const char* op, const char* name, const MatrixSpan& span,
                       size_t length);

// Index one past the last element `span` touches (0 when empty). Assumes require_in_bounds passed.
int64_t span_end(const MatrixSpan& span);

// Whether the element ranges [a_begin, a_end) and [b_begin, b_end) of two arrays overlap in
// memory (they may be views of one buffer).
bool memory_overlaps(const float* a, int64_t a_begin, int64_t a_end, const float* b,
                     int64_t b_begin, int64_t b_end);

}  // namespace strata::checks
