// Runtime controls: the thread pool size, the instruction set in use and the CPU's features.
#include <napi.h>

#include "bindings.h"
#include "checks.h"
#include "cpu.h"
#include "gemm.h"
#include "threadpool.h"

namespace strata::bindings {

namespace {

// setThreads(n: integer in [1, 256]) -> number of threads now in use
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "setThreads";
  return guarded(kOp, info.Env(), [&]() -> Napi::Value {
    checks::require_arg_count(info, kOp, 1);
    const int64_t n = checks::integer_in_range(info, 0, kOp, "n", 1, kMaxThreads);
    return Napi::Number::New(info.Env(), set_thread_count(static_cast<int>(n)));
  });
}

// getThreads() -> number
Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), thread_count());
}

// isa() -> "avx512" | "avx2" | "portable": the GEMM kernels in use
Napi::Value IsaName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gemm_isa_name());
}

// cpuFeatures() -> { avx512f, avx512bw, avx512vnni, avx512bf16, amx, avx2, fma }
Napi::Value CpuFeatureFlags(const Napi::CallbackInfo& info) {
  const CpuFeatures& f = cpu_features();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("avx512f", f.avx512f);
  out.Set("avx512bw", f.avx512bw);
  out.Set("avx512vnni", f.avx512vnni);
  out.Set("avx512bf16", f.avx512bf16);
  out.Set("amx", f.amx);
  out.Set("avx2", f.avx2);
  out.Set("fma", f.fma);
  return out;
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("isa", Napi::Function::New(env, IsaName, "isa"));
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeatureFlags, "cpuFeatures"));
}

}  // namespace strata::bindings
