// CPU feature detection and the choice of instruction set for the kernels.
#pragma once

namespace strata {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool amx = false;  // CPU reports AMX tiles; the OS may still need to grant them per process
};

// The instruction-set levels the kernels are compiled for, best last.
enum class Isa { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

const CpuFeatures& cpu_features();

// Best level this CPU (and OS) can run.
Isa best_supported_isa();

// Level the kernels use: STRATA_ISA=avx512|avx2|portable when set and supported, else the best
// supported level. Decided once, at first use.
Isa active_isa();

const char* isa_name(Isa isa);

}  // namespace strata
