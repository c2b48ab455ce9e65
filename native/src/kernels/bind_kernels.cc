// N-API bindings of the kernels in kernels.h. Every argument is validated here (types, integer
// ranges, and the furthest element each view can touch) before any pointer is dereferenced:
// whatever JavaScript passes, the kernels never read or write out of bounds.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "bind_kernels.h"
#include "kernels.h"

namespace strata {
namespace {

constexpr int64_t kMaxSafe = (int64_t{1} << 53) - 1;

struct Ctx {
  Napi::Env env;
  const char* fn;
  bool ok = true;

  bool fail(const std::string& msg) {
    if (ok) Napi::RangeError::New(env, std::string(fn) + ": " + msg).ThrowAsJavaScriptException();
    ok = false;
    return false;
  }
};

struct Buf {
  void* data = nullptr;
  int64_t length = 0;  // elements
  int elem = 0;        // bytes per element
  napi_typedarray_type type = napi_float32_array;
  const uint8_t* begin() const { return static_cast<const uint8_t*>(data); }
  const uint8_t* end() const { return begin() + length * elem; }
};

bool get_int(Ctx& c, const Napi::Value& v, const char* name, int64_t* out, int64_t lo = 0, int64_t hi = kMaxSafe) {
  if (!c.ok) return false;
  if (!v.IsNumber()) return c.fail(std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    return c.fail(std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool get_float(Ctx& c, const Napi::Value& v, const char* name, float* out) {
  if (!c.ok) return false;
  if (!v.IsNumber()) return c.fail(std::string(name) + " must be a number");
  *out = static_cast<float>(v.As<Napi::Number>().DoubleValue());
  return true;
}

bool get_bool(Ctx& c, const Napi::Value& v, const char* name, bool* out) {
  if (!c.ok) return false;
  if (!v.IsBoolean()) return c.fail(std::string(name) + " must be a boolean");
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool get_buf(Ctx& c, const Napi::Value& v, const char* name, Buf* out, int want /* 0 = any, else napi type + 1 */) {
  if (!c.ok) return false;
  if (!v.IsTypedArray()) return c.fail(std::string(name) + " must be a typed array");
  auto ta = v.As<Napi::TypedArray>();
  const napi_typedarray_type t = ta.TypedArrayType();
  if (want != 0 && static_cast<int>(t) != want - 1) return c.fail(std::string(name) + " has the wrong typed-array type");
  out->type = t;
  out->elem = static_cast<int>(ta.ElementSize());
  out->length = static_cast<int64_t>(ta.ElementLength());
  out->data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (out->length > 0 && out->data == nullptr) return c.fail(std::string(name) + " is detached");
  return true;
}

bool get_f32(Ctx& c, const Napi::Value& v, const char* name, Buf* out) {
  return get_buf(c, v, name, out, static_cast<int>(napi_float32_array) + 1);
}

// Optional Float32Array: null/undefined gives an empty Buf.
bool get_f32_opt(Ctx& c, const Napi::Value& v, const char* name, Buf* out) {
  if (v.IsNull() || v.IsUndefined()) {
    *out = Buf{};
    return c.ok;
  }
  return get_f32(c, v, name, out);
}

bool get_dims(Ctx& c, const Napi::Value& v, const char* name, int64_t* dims, int* ndim) {
  if (!c.ok) return false;
  if (!v.IsArray()) return c.fail(std::string(name) + " must be an array");
  auto arr = v.As<Napi::Array>();
  if (arr.Length() > static_cast<uint32_t>(kMaxDims)) return c.fail(std::string(name) + " has more than 8 dimensions");
  *ndim = static_cast<int>(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    if (!get_int(c, arr.Get(i), name, &dims[i])) return false;
  }
  return true;
}

// elements = prod(shape), overflow-checked
bool numel(Ctx& c, const int64_t* shape, int ndim, int64_t* n) {
  __int128 p = 1;
  for (int i = 0; i < ndim; i++) {
    p *= shape[i];
    if (p > kMaxSafe) return c.fail("shape has too many elements");
  }
  *n = static_cast<int64_t>(p);
  return true;
}

// Checks that a strided view stays inside its buffer.
bool check_view(Ctx& c, const char* name, const Buf& b, const int64_t* shape, const int64_t* strides, int ndim,
                int64_t offset) {
  if (!c.ok) return false;
  __int128 last = offset;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 0) return true;  // empty view touches nothing
    last += static_cast<__int128>(shape[i] - 1) * strides[i];
  }
  if (last >= b.length) return c.fail(std::string(name) + " view reaches element " + std::to_string(static_cast<int64_t>(last)) + " of a buffer of " + std::to_string(b.length));
  return true;
}

bool check_len(Ctx& c, const char* name, const Buf& b, __int128 need) {
  if (!c.ok) return false;
  if (need > b.length) return c.fail(std::string(name) + " needs " + std::to_string(static_cast<int64_t>(need)) + " elements, has " + std::to_string(b.length));
  return true;
}

bool overlaps(const Buf& a, const Buf& b) { return a.length > 0 && b.length > 0 && a.begin() < b.end() && b.begin() < a.end(); }

bool check_disjoint(Ctx& c, const char* out_name, const Buf& out, std::initializer_list<std::pair<const char*, const Buf*>> ins) {
  if (!c.ok) return false;
  for (auto& [name, b] : ins) {
    if (overlaps(out, *b)) return c.fail(std::string(out_name) + " overlaps " + name);
  }
  return true;
}

// (data, strides[], offset) triple at args[i..i+2], shaped like `shape`
bool get_view(Ctx& c, const Napi::CallbackInfo& info, int i, const char* name, const int64_t* shape, int ndim, int want,
              Buf* buf, int64_t* strides, int64_t* offset) {
  int sd = 0;
  if (!get_buf(c, info[i], name, buf, want) || !get_dims(c, info[i + 1], name, strides, &sd) ||
      !get_int(c, info[i + 2], name, offset))
    return false;
  if (sd != ndim) return c.fail(std::string(name) + " strides do not match the shape's rank");
  return check_view(c, name, *buf, shape, strides, ndim, *offset);
}

constexpr int kF32 = static_cast<int>(napi_float32_array) + 1;
constexpr int kU8 = static_cast<int>(napi_uint8_array) + 1;

// unaryF32(op, x, xStrides, xOffset, shape, scalar, out)
Napi::Value UnaryF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "unaryF32"};
  int64_t op = 0, shape[kMaxDims], st[kMaxDims], off = 0, n = 0;
  int nd = 0;
  float s = 0;
  Buf x, out;
  get_int(c, info[0], "op", &op, 0, static_cast<int>(UnaryOp::kCount) - 1);
  get_dims(c, info[4], "shape", shape, &nd);
  get_view(c, info, 1, "x", shape, nd, kF32, &x, st, &off);
  get_float(c, info[5], "scalar", &s);
  get_f32(c, info[6], "out", &out);
  if (!numel(c, shape, nd, &n) || !check_len(c, "out", out, n) || !check_disjoint(c, "out", out, {{"x", &x}})) return info.Env().Undefined();
  StridedF32 v{static_cast<const float*>(x.data) + off, {}};
  for (int i = 0; i < nd; i++) v.strides[i] = st[i];
  unary_f32(static_cast<UnaryOp>(op), nd, shape, v, s, static_cast<float*>(out.data));
  return info.Env().Undefined();
}

// binaryF32(op, a, aStrides, aOffset, b, bStrides, bOffset, shape, out)
Napi::Value BinaryF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "binaryF32"};
  int64_t op = 0, shape[kMaxDims], sa[kMaxDims], sb[kMaxDims], oa = 0, ob = 0, n = 0;
  int nd = 0;
  Buf a, b, out;
  get_int(c, info[0], "op", &op, 0, static_cast<int>(BinaryOp::kCount) - 1);
  get_dims(c, info[7], "shape", shape, &nd);
  get_view(c, info, 1, "a", shape, nd, kF32, &a, sa, &oa);
  get_view(c, info, 4, "b", shape, nd, kF32, &b, sb, &ob);
  get_f32(c, info[8], "out", &out);
  if (!numel(c, shape, nd, &n) || !check_len(c, "out", out, n) || !check_disjoint(c, "out", out, {{"a", &a}, {"b", &b}}))
    return info.Env().Undefined();
  StridedF32 va{static_cast<const float*>(a.data) + oa, {}}, vb{static_cast<const float*>(b.data) + ob, {}};
  for (int i = 0; i < nd; i++) va.strides[i] = sa[i], vb.strides[i] = sb[i];
  binary_f32(static_cast<BinaryOp>(op), nd, shape, va, vb, static_cast<float*>(out.data));
  return info.Env().Undefined();
}

// compareF32(op, a, aStrides, aOffset, b, bStrides, bOffset, shape, out: Uint8Array)
Napi::Value CompareF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "compareF32"};
  int64_t op = 0, shape[kMaxDims], sa[kMaxDims], sb[kMaxDims], oa = 0, ob = 0, n = 0;
  int nd = 0;
  Buf a, b, out;
  get_int(c, info[0], "op", &op, 0, static_cast<int>(CompareOp::kCount) - 1);
  get_dims(c, info[7], "shape", shape, &nd);
  get_view(c, info, 1, "a", shape, nd, kF32, &a, sa, &oa);
  get_view(c, info, 4, "b", shape, nd, kF32, &b, sb, &ob);
  get_buf(c, info[8], "out", &out, kU8);
  if (!numel(c, shape, nd, &n) || !check_len(c, "out", out, n) || !check_disjoint(c, "out", out, {{"a", &a}, {"b", &b}}))
    return info.Env().Undefined();
  StridedF32 va{static_cast<const float*>(a.data) + oa, {}}, vb{static_cast<const float*>(b.data) + ob, {}};
  for (int i = 0; i < nd; i++) va.strides[i] = sa[i], vb.strides[i] = sb[i];
  compare_f32(static_cast<CompareOp>(op), nd, shape, va, vb, static_cast<uint8_t*>(out.data));
  return info.Env().Undefined();
}

// argReduceF32(op, x, outer, n, inner, out: Int32Array)
Napi::Value ArgReduceF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "argReduceF32"};
  int64_t op = 0, outer = 0, n = 0, inner = 0;
  Buf x, out;
  get_int(c, info[0], "op", &op, 0, 1);
  get_f32(c, info[1], "x", &x);
  get_int(c, info[2], "outer", &outer);
  get_int(c, info[3], "n", &n, 1, int64_t{1} << 31);
  get_int(c, info[4], "inner", &inner);
  get_buf(c, info[5], "out", &out, static_cast<int>(napi_int32_array) + 1);
  if (!check_len(c, "x", x, static_cast<__int128>(outer) * n * inner) || !check_len(c, "out", out, static_cast<__int128>(outer) * inner) ||
      !check_disjoint(c, "out", out, {{"x", &x}}))
    return info.Env().Undefined();
  arg_reduce_f32(static_cast<int>(op), static_cast<const float*>(x.data), outer, n, inner, static_cast<int32_t*>(out.data));
  return info.Env().Undefined();
}

// sampleF32(logits, temperature > 0, topK >= 0, topP in (0, 1], minP in [0, 1], uniform in [0, 1)) -> index
Napi::Value SampleF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "sampleF32"};
  Buf logits;
  int64_t top_k = 0;
  get_f32(c, info[0], "logits", &logits);
  get_int(c, info[2], "topK", &top_k);
  if (!c.ok) return info.Env().Undefined();
  if (logits.length < 1 || logits.length > (int64_t{1} << 31)) return c.fail("logits must hold 1 to 2^31 values"), info.Env().Undefined();
  double v[4];
  const char* names[4] = {"temperature", "topP", "minP", "uniform"};
  const int at[4] = {1, 3, 4, 5};
  for (int i = 0; i < 4; i++) {
    if (!info[at[i]].IsNumber()) return c.fail(std::string(names[i]) + " must be a number"), info.Env().Undefined();
    v[i] = info[at[i]].As<Napi::Number>().DoubleValue();
  }
  if (!(v[0] > 0) || !std::isfinite(v[0])) return c.fail("temperature must be a finite number > 0"), info.Env().Undefined();
  if (!(v[1] > 0 && v[1] <= 1)) return c.fail("topP must be in (0, 1]"), info.Env().Undefined();
  if (!(v[2] >= 0 && v[2] <= 1)) return c.fail("minP must be in [0, 1]"), info.Env().Undefined();
  if (!(v[3] >= 0 && v[3] < 1)) return c.fail("uniform must be in [0, 1)"), info.Env().Undefined();
  const int64_t token = sample_f32(static_cast<const float*>(logits.data), logits.length, v[0], top_k, v[1], v[2], v[3]);
  return Napi::Number::New(info.Env(), static_cast<double>(token));
}

// whereF32(cond, cStrides, cOffset, a, aStrides, aOffset, b, bStrides, bOffset, shape, out)
Napi::Value WhereF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "whereF32"};
  int64_t shape[kMaxDims], sc[kMaxDims], sa[kMaxDims], sb[kMaxDims], oc = 0, oa = 0, ob = 0, n = 0;
  int nd = 0;
  Buf cond, a, b, out;
  get_dims(c, info[9], "shape", shape, &nd);
  get_view(c, info, 0, "cond", shape, nd, kU8, &cond, sc, &oc);
  get_view(c, info, 3, "a", shape, nd, kF32, &a, sa, &oa);
  get_view(c, info, 6, "b", shape, nd, kF32, &b, sb, &ob);
  get_f32(c, info[10], "out", &out);
  if (!numel(c, shape, nd, &n) || !check_len(c, "out", out, n) ||
      !check_disjoint(c, "out", out, {{"cond", &cond}, {"a", &a}, {"b", &b}}))
    return info.Env().Undefined();
  StridedF32 va{static_cast<const float*>(a.data) + oa, {}}, vb{static_cast<const float*>(b.data) + ob, {}};
  for (int i = 0; i < nd; i++) va.strides[i] = sa[i], vb.strides[i] = sb[i];
  where_f32(nd, shape, static_cast<const uint8_t*>(cond.data) + oc, sc, va, vb, static_cast<float*>(out.data));
  return info.Env().Undefined();
}

// copyStrided(src, srcStrides, srcOffset, shape, out): any typed array, same type both sides
Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "copyStrided"};
  int64_t shape[kMaxDims], st[kMaxDims], off = 0, n = 0;
  int nd = 0;
  Buf src, out;
  get_dims(c, info[3], "shape", shape, &nd);
  get_view(c, info, 0, "src", shape, nd, 0, &src, st, &off);
  get_buf(c, info[4], "out", &out, 0);
  if (c.ok && (out.type != src.type)) c.fail("out must have the same typed-array type as src");
  if (!numel(c, shape, nd, &n) || !check_len(c, "out", out, n) || !check_disjoint(c, "out", out, {{"src", &src}}))
    return info.Env().Undefined();
  copy_strided(src.elem, nd, shape, static_cast<const uint8_t*>(src.data) + off * src.elem, st, out.data);
  return info.Env().Undefined();
}

// reduceF32(op, x, outer, n, inner, out)
Napi::Value ReduceF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "reduceF32"};
  int64_t op = 0, outer = 0, n = 0, inner = 0;
  Buf x, out;
  get_int(c, info[0], "op", &op, 0, 2);
  get_f32(c, info[1], "x", &x);
  get_int(c, info[2], "outer", &outer);
  get_int(c, info[3], "n", &n);
  get_int(c, info[4], "inner", &inner);
  get_f32(c, info[5], "out", &out);
  if (!check_len(c, "x", x, static_cast<__int128>(outer) * n * inner) || !check_len(c, "out", out, static_cast<__int128>(outer) * inner) ||
      !check_disjoint(c, "out", out, {{"x", &x}}))
    return info.Env().Undefined();
  if (n == 0 && op != 0) {
    c.fail("cannot take max/min over an empty axis");
    return info.Env().Undefined();
  }
  reduce_f32(static_cast<int>(op), static_cast<const float*>(x.data), outer, n, inner, static_cast<float*>(out.data));
  return info.Env().Undefined();
}

// softmaxF32(x, rows, cols, out, log)
Napi::Value SoftmaxF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "softmaxF32"};
  int64_t rows = 0, cols = 0;
  bool log = false;
  Buf x, out;
  get_f32(c, info[0], "x", &x);
  get_int(c, info[1], "rows", &rows);
  get_int(c, info[2], "cols", &cols);
  get_f32(c, info[3], "out", &out);
  get_bool(c, info[4], "log", &log);
  const __int128 n = static_cast<__int128>(rows) * cols;
  if (!check_len(c, "x", x, n) || !check_len(c, "out", out, n) || !check_disjoint(c, "out", out, {{"x", &x}}))
    return info.Env().Undefined();
  softmax_f32(static_cast<const float*>(x.data), rows, cols, static_cast<float*>(out.data), log);
  return info.Env().Undefined();
}

// layerNormF32(x, w|null, b|null, rows, cols, eps, out, mean, rstd, residual|null)
Napi::Value LayerNormF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "layerNormF32"};
  int64_t rows = 0, cols = 0;
  float eps = 0;
  Buf x, w, b, out, mean, rstd, res;
  get_f32(c, info[0], "x", &x);
  get_f32_opt(c, info[1], "weight", &w);
  get_f32_opt(c, info[2], "bias", &b);
  get_int(c, info[3], "rows", &rows);
  get_int(c, info[4], "cols", &cols, 1);
  get_float(c, info[5], "eps", &eps);
  get_f32(c, info[6], "out", &out);
  get_f32(c, info[7], "mean", &mean);
  get_f32(c, info[8], "rstd", &rstd);
  get_f32_opt(c, info[9], "residual", &res);
  const __int128 n = static_cast<__int128>(rows) * cols;
  if (!check_len(c, "x", x, n) || !check_len(c, "out", out, n) || (w.data && !check_len(c, "weight", w, cols)) ||
      (b.data && !check_len(c, "bias", b, cols)) || (res.data && !check_len(c, "residual", res, n)) ||
      !check_len(c, "mean", mean, rows) || !check_len(c, "rstd", rstd, rows) ||
      !check_disjoint(c, "out", out, {{"x", &x}, {"weight", &w}, {"bias", &b}, {"mean", &mean}, {"rstd", &rstd}, {"residual", &res}}) ||
      !check_disjoint(c, "mean", mean, {{"x", &x}, {"rstd", &rstd}, {"residual", &res}}) ||
      !check_disjoint(c, "rstd", rstd, {{"x", &x}, {"residual", &res}}))
    return info.Env().Undefined();
  layer_norm_f32(static_cast<const float*>(x.data), static_cast<const float*>(res.data), static_cast<const float*>(w.data),
                 static_cast<const float*>(b.data), rows, cols, eps, static_cast<float*>(out.data), static_cast<float*>(mean.data),
                 static_cast<float*>(rstd.data));
  return info.Env().Undefined();
}

// rmsNormF32(x, w|null, rows, cols, eps, out, rstd)
Napi::Value RmsNormF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "rmsNormF32"};
  int64_t rows = 0, cols = 0;
  float eps = 0;
  Buf x, w, out, rstd;
  get_f32(c, info[0], "x", &x);
  get_f32_opt(c, info[1], "weight", &w);
  get_int(c, info[2], "rows", &rows);
  get_int(c, info[3], "cols", &cols, 1);
  get_float(c, info[4], "eps", &eps);
  get_f32(c, info[5], "out", &out);
  get_f32(c, info[6], "rstd", &rstd);
  const __int128 n = static_cast<__int128>(rows) * cols;
  if (!check_len(c, "x", x, n) || !check_len(c, "out", out, n) || (w.data && !check_len(c, "weight", w, cols)) ||
      !check_len(c, "rstd", rstd, rows) || !check_disjoint(c, "out", out, {{"x", &x}, {"weight", &w}, {"rstd", &rstd}}) ||
      !check_disjoint(c, "rstd", rstd, {{"x", &x}}))
    return info.Env().Undefined();
  rms_norm_f32(static_cast<const float*>(x.data), static_cast<const float*>(w.data), rows, cols, eps, static_cast<float*>(out.data),
               static_cast<float*>(rstd.data));
  return info.Env().Undefined();
}

// ropeF32(x, rows, t, d, cos, sin, rowsPerTable, interleaved, inverse, out)
Napi::Value RopeF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "ropeF32"};
  int64_t rows = 0, t = 0, d = 0, per = 1;
  bool inter = false, inv = false;
  Buf x, cs, sn, out;
  get_f32(c, info[0], "x", &x);
  get_int(c, info[1], "rows", &rows);
  get_int(c, info[2], "t", &t);
  get_int(c, info[3], "d", &d);
  get_f32(c, info[4], "cos", &cs);
  get_f32(c, info[5], "sin", &sn);
  get_int(c, info[6], "rowsPerTable", &per, 1);
  get_bool(c, info[7], "interleaved", &inter);
  get_bool(c, info[8], "inverse", &inv);
  get_f32(c, info[9], "out", &out);
  if (c.ok && d % 2 != 0) c.fail("d must be even");
  const __int128 n = static_cast<__int128>(rows) * t * d;
  const __int128 tables = rows == 0 ? 0 : (rows + per - 1) / per;
  const __int128 tab = tables * t * (d / 2);
  if (!check_len(c, "x", x, n) || !check_len(c, "out", out, n) || !check_len(c, "cos", cs, tab) || !check_len(c, "sin", sn, tab) ||
      !check_disjoint(c, "out", out, {{"x", &x}, {"cos", &cs}, {"sin", &sn}}))
    return info.Env().Undefined();
  rope_f32(static_cast<const float*>(x.data), rows, t, d, static_cast<const float*>(cs.data), static_cast<const float*>(sn.data), per,
           inter, inv, static_cast<float*>(out.data));
  return info.Env().Undefined();
}

bool get_geometry(Ctx& c, const Napi::Value& v, ConvGeometry* g) {
  int64_t d[kMaxDims * 2];
  if (!c.ok) return false;
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 14) return c.fail("geometry must be an array of 14 integers");
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < 14; i++) {
    if (!get_int(c, arr.Get(i), "geometry", &d[i], 0, int64_t{1} << 31)) return false;
  }
  *g = ConvGeometry{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13]};
  if (g->kh < 1 || g->kw < 1 || g->stride_h < 1 || g->stride_w < 1 || g->dil_h < 1 || g->dil_w < 1) return c.fail("kernel, stride and dilation must be >= 1");
  const int64_t oh = (g->height + 2 * g->pad_h - g->dil_h * (g->kh - 1) - 1) / g->stride_h + 1;
  const int64_t ow = (g->width + 2 * g->pad_w - g->dil_w * (g->kw - 1) - 1) / g->stride_w + 1;
  if (g->height + 2 * g->pad_h < g->dil_h * (g->kh - 1) + 1 || g->width + 2 * g->pad_w < g->dil_w * (g->kw - 1) + 1 || oh != g->out_h || ow != g->out_w)
    return c.fail("output size does not follow from the geometry");
  return true;
}

// im2colF32(x, geometry[14], cols) and col2imF32(cols, geometry[14], x)
Napi::Value Im2col(const Napi::CallbackInfo& info, bool forward) {
  Ctx c{info.Env(), forward ? "im2colF32" : "col2imF32"};
  ConvGeometry g{};
  Buf img, cols;
  get_f32(c, info[forward ? 0 : 2], "image", &img);
  get_geometry(c, info[1], &g);
  get_f32(c, info[forward ? 2 : 0], "cols", &cols);
  const __int128 ni = static_cast<__int128>(g.batch) * g.channels * g.height * g.width;
  const __int128 nc = static_cast<__int128>(g.batch) * g.channels * g.kh * g.kw * g.out_h * g.out_w;
  if (!check_len(c, "image", img, ni) || !check_len(c, "cols", cols, nc) || !check_disjoint(c, "image", img, {{"cols", &cols}}))
    return info.Env().Undefined();
  if (forward)
    im2col_f32(static_cast<const float*>(img.data), g, static_cast<float*>(cols.data));
  else
    col2im_f32(static_cast<const float*>(cols.data), g, static_cast<float*>(img.data));
  return info.Env().Undefined();
}

// [offset, batchStride, headStride] of a (B, H, S, D) view whose rows of D are contiguous
// [offset, batchStride, headStride, rowStride] of one attention operand (kernels.h AttentionLayout).
bool get_attention_layout(Ctx& c, const Napi::Value& v, const char* name, int64_t* offset, AttentionLayout* l) {
  int64_t dims[kMaxDims];
  int n = 0;
  if (!get_dims(c, v, name, dims, &n)) return false;
  if (n != 4) return c.fail(std::string(name) + " must be [offset, batchStride, headStride, rowStride]");
  *offset = dims[0];
  *l = {dims[1], dims[2], dims[3]};
  return true;
}

// Elements a (B, H, R, C) operand touches: its last index + 1 (0 when it is empty).
__int128 attention_extent(int64_t offset, const AttentionLayout& l, int64_t b, int64_t h, int64_t r, int64_t cols) {
  if (b == 0 || h == 0 || r == 0 || cols == 0) return 0;
  return static_cast<__int128>(offset) + static_cast<__int128>(b - 1) * l.batch + static_cast<__int128>(h - 1) * l.head +
         static_cast<__int128>(r - 1) * l.row + cols;
}

// attentionF32(q, qLayout, k, kLayout, v, vLayout, mask|null, maskLayout, batch, hq, hkv, tq, tk, d, scale, causal,
//              out, outLayout); each layout is [offset, batchStride, headStride, rowStride] in elements.
Napi::Value AttentionF32(const Napi::CallbackInfo& info) {
  Ctx c{info.Env(), "attentionF32"};
  Buf q, k, v, m, out;
  AttentionArgs a{};
  int64_t qo = 0, ko = 0, vo = 0, mo = 0, oo = 0;
  int64_t b = 0, hq = 0, hkv = 0, tq = 0, tk = 0, d = 0;
  get_f32(c, info[0], "q", &q);
  get_attention_layout(c, info[1], "qLayout", &qo, &a.ql);
  get_f32(c, info[2], "k", &k);
  get_attention_layout(c, info[3], "kLayout", &ko, &a.kl);
  get_f32(c, info[4], "v", &v);
  get_attention_layout(c, info[5], "vLayout", &vo, &a.vl);
  get_f32_opt(c, info[6], "mask", &m);
  get_attention_layout(c, info[7], "maskLayout", &mo, &a.ml);
  get_int(c, info[8], "batch", &b);
  get_int(c, info[9], "headsQ", &hq);
  get_int(c, info[10], "headsKV", &hkv, 1);
  get_int(c, info[11], "tq", &tq);
  get_int(c, info[12], "tk", &tk);
  get_int(c, info[13], "headDim", &d);
  get_float(c, info[14], "scale", &a.scale);
  get_bool(c, info[15], "causal", &a.causal);
  get_f32(c, info[16], "out", &out);
  get_attention_layout(c, info[17], "outLayout", &oo, &a.ol);
  if (c.ok && hq % hkv != 0) c.fail("headsQ must be a multiple of headsKV");
  // output rows are whole GEMM rows: they must not overlap one another
  if (c.ok && tq > 1 && a.ol.row < d) c.fail("outLayout rowStride must be at least headDim");
  if (!check_len(c, "q", q, attention_extent(qo, a.ql, b, hq, tq, d)) || !check_len(c, "k", k, attention_extent(ko, a.kl, b, hkv, tk, d)) ||
      !check_len(c, "v", v, attention_extent(vo, a.vl, b, hkv, tk, d)) || !check_len(c, "out", out, attention_extent(oo, a.ol, b, hq, tq, d)))
    return info.Env().Undefined();
  if (m.data && !check_len(c, "mask", m, attention_extent(mo, a.ml, b, hq, tq, tk))) return info.Env().Undefined();
  if (!check_disjoint(c, "out", out, {{"q", &q}, {"k", &k}, {"v", &v}, {"mask", &m}})) return info.Env().Undefined();
  a.q = static_cast<const float*>(q.data) + qo;
  a.k = static_cast<const float*>(k.data) + ko;
  a.v = static_cast<const float*>(v.data) + vo;
  a.mask = m.data ? static_cast<const float*>(m.data) + mo : nullptr;
  a.out = static_cast<float*>(out.data) + oo;
  a.batch = b;
  a.heads_q = hq;
  a.heads_kv = hkv;
  a.tq = tq;
  a.tk = tk;
  a.head_dim = d;
  attention_f32(a);
  return info.Env().Undefined();
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("unaryF32", Napi::Function::New(env, UnaryF32, "unaryF32"));
  exports.Set("binaryF32", Napi::Function::New(env, BinaryF32, "binaryF32"));
  exports.Set("compareF32", Napi::Function::New(env, CompareF32, "compareF32"));
  exports.Set("argReduceF32", Napi::Function::New(env, ArgReduceF32, "argReduceF32"));
  exports.Set("whereF32", Napi::Function::New(env, WhereF32, "whereF32"));
  exports.Set("sampleF32", Napi::Function::New(env, SampleF32, "sampleF32"));
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided, "copyStrided"));
  exports.Set("reduceF32", Napi::Function::New(env, ReduceF32, "reduceF32"));
  exports.Set("softmaxF32", Napi::Function::New(env, SoftmaxF32, "softmaxF32"));
  exports.Set("layerNormF32", Napi::Function::New(env, LayerNormF32, "layerNormF32"));
  exports.Set("rmsNormF32", Napi::Function::New(env, RmsNormF32, "rmsNormF32"));
  exports.Set("ropeF32", Napi::Function::New(env, RopeF32, "ropeF32"));
  exports.Set("im2colF32", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Im2col(i, true); }, "im2colF32"));
  exports.Set("col2imF32", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Im2col(i, false); }, "col2imF32"));
  exports.Set("attentionF32", Napi::Function::New(env, AttentionF32, "attentionF32"));
}

}  // namespace strata
