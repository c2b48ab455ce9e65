{
  # The strata_native addon. Built for baseline x86-64 (or the host's baseline elsewhere): the
  # AVX2 / AVX-512 kernels carry per-function target attributes and are chosen at load time
  # (native/src/cpu.cc), so one binary runs on any CPU. No -ffast-math: results stay IEEE.
  "targets": [
    {
      "target_name": "strata_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/bind_gemm.cc",
        "native/src/bind_mmap.cc",
        "native/src/bind_runtime.cc",
        "native/src/checks.cc",
        "native/src/cpu.cc",
        "native/src/gemm.cc",
        "native/src/gemm_avx2.cc",
        "native/src/gemm_avx512.cc",
        "native/src/gemm_portable.cc",
        "native/src/threadpool.cc",
        "native/src/kernels/attention.cc",
        "native/src/kernels/bind_kernels.cc",
        "native/src/kernels/elementwise.cc",
        "native/src/kernels/nn.cc",
        "native/src/kernels/sampling.cc",
        "native/src/quant/bind_quant.cc",
        "native/src/quant/quant_avx2.cc",
        "native/src/quant/quant_avx512.cc",
        "native/src/quant/quant_matmul.cc",
        "native/src/quant/quant_portable.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/src"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fvisibility=hidden", "-pthread"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wno-missing-field-initializers"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CFLAGS": ["-fno-math-errno"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] }
      }
    }
  ]
}
