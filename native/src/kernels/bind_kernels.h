#pragma once

#include <napi.h>

namespace strata {

// Adds the non-GEMM kernels (unaryF32, binaryF32, softmaxF32, ...) to the addon's exports.
void RegisterKernels(Napi::Env env, Napi::Object exports);

}  // namespace strata
