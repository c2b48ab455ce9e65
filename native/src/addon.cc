// Entry point of the strata_native addon. Kernel families register their own exports
// (bind_*.cc); argument checks live in checks.h.
#include <napi.h>

#include "bindings.h"
#include "kernels/bind_kernels.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  strata::bindings::register_runtime(env, exports);
  strata::bindings::register_gemm(env, exports);
  strata::bindings::register_quant(env, exports);
  strata::bindings::register_mmap(env, exports);
  strata::RegisterKernels(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(strata_native, Init)
