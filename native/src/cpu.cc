#include "cpu.h"

#include <cstdlib>
#include <cstring>

namespace strata {

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // libgcc also checks XCR0, so these are false when the OS does not save the wide registers.
  f.avx2 = __builtin_cpu_supports("avx2") != 0;
  f.fma = __builtin_cpu_supports("fma") != 0;
  f.avx512f = __builtin_cpu_supports("avx512f") != 0;
  f.avx512bw = __builtin_cpu_supports("avx512bw") != 0;
  f.avx512dq = __builtin_cpu_supports("avx512dq") != 0;
  f.avx512vl = __builtin_cpu_supports("avx512vl") != 0;
  f.avx512vnni = __builtin_cpu_supports("avx512vnni") != 0;
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16") != 0;
  f.amx = __builtin_cpu_supports("amx-tile") != 0;
#endif
  return f;
}

Isa requested_or_best() {
  const Isa best = best_supported_isa();
  const char* env = std::getenv("STRATA_ISA");
  if (env == nullptr || *env == '\0') return best;
  Isa wanted = best;
  if (std::strcmp(env, "avx512") == 0) {
    wanted = Isa::kAvx512;
  } else if (std::strcmp(env, "avx2") == 0) {
    wanted = Isa::kAvx2;
  } else if (std::strcmp(env, "portable") == 0) {
    wanted = Isa::kPortable;
  }
  // An unknown or unsupported request falls back to the best level we can run.
  return static_cast<int>(wanted) <= static_cast<int>(best) ? wanted : best;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

Isa best_supported_isa() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.fma) return Isa::kAvx512;
  if (f.avx2 && f.fma) return Isa::kAvx2;
  return Isa::kPortable;
}

Isa active_isa() {
  static const Isa isa = requested_or_best();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kPortable:
      return "portable";
  }
  return "portable";
}

}  // namespace strata
