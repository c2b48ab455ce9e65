// Each binding file adds its exports to the module object; addon.cc calls them all.
// To add a kernel family: write bind_<family>.cc with a register_<family>() that validates its
// arguments through checks.h, and list it here, in addon.cc and in binding.gyp.
#pragma once

#include <napi.h>

#include <exception>
#include <new>
#include <string>

namespace strata::bindings {

void register_runtime(Napi::Env env, Napi::Object exports);  // threads, ISA, CPU features
void register_gemm(Napi::Env env, Napi::Object exports);     // gemmF32
void register_quant(Napi::Env env, Napi::Object exports);    // quantMatmul, dequantizeRows, halfMatmul
void register_mmap(Napi::Env env, Napi::Object exports);     // mmapFile

// Runs `body` and turns C++ failures other than JS errors into JS exceptions named after `op`.
template <class Body>
Napi::Value guarded(const char* op, Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, std::string(op) + ": out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string(op) + ": " + e.what());
  }
}

}  // namespace strata::bindings
