// Branch-free float math that GCC auto-vectorizes (no libm calls in the loop body, but fmaf in
// erf on a CPU without FMA), so the elementwise kernels compile to AVX-512 / AVX2 clones. Accuracy: a few ulp for exp/log,
// ~1e-7 absolute for erf and tanh; the tests hold every kernel to the reference backend.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#define STRATA_INLINE inline __attribute__((always_inline))

namespace strata::vm {

STRATA_INLINE float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}

STRATA_INLINE int32_t float_to_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, 4);
  return i;
}

// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial, 2^n through the exponent bits.
STRATA_INLINE float exp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  const float kShift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float n = (x * 1.44269504088896341f + kShift) - kShift;
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * bits_to_float((static_cast<int32_t>(n) + 127) << 23);
}

// ln x for x > 0 (x <= 0 and NaN handled by the caller's select): x = m 2^e with m in [sqrt(1/2), sqrt(2)).
STRATA_INLINE float log(float x) {
  int32_t bits = float_to_bits(x);
  int32_t e = ((bits >> 23) & 0xff) - 127;
  float m = bits_to_float((bits & 0x007fffff) | 0x3f800000);  // [1, 2)
  const bool big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  // atanh series: ln((1+s)/(1-s)) = 2s(1 + z/3 + z^2/5 + ...)
  float p = 1.0f / 11.0f;
  p = p * z + 1.0f / 9.0f;
  p = p * z + 1.0f / 7.0f;
  p = p * z + 1.0f / 5.0f;
  p = p * z + 1.0f / 3.0f;
  p = p * z + 1.0f;
  return 2.0f * s * p + static_cast<float>(e) * 0.693147180559945309f;
}

STRATA_INLINE float sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }

// tanh: a short odd polynomial near 0 keeps relative accuracy; 1 - 2/(e^2x + 1) elsewhere.
STRATA_INLINE float tanh(float x) {
  const float ax = x < 0 ? -x : x;
  const float x2 = x * x;
  float small = -17.0f / 315.0f;
  small = small * x2 + 2.0f / 15.0f;
  small = small * x2 - 1.0f / 3.0f;
  small = x + x * x2 * small;
  const float e = exp(2.0f * ax);
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = x < 0 ? -big : big;
  return ax < 0.125f ? small : big;
}

// erf with |error| < 1.2e-7: Numerical Recipes' erfc Chebyshev fit, erfc(z) = t exp(-z^2 + P(t)) with
// t = 1 / (1 + z/2), written branch-free. Its steps are std::fma, which rounds once on every
// instruction set (an FMA instruction, or libm's exact fmaf on a CPU without one), so the clones
// still agree bit for bit; fused, the chain is half as long and half as many operations (GELU is
// the epilogue of a BERT layer's widest GEMM). The stages are separate functions so that a kernel
// can run each over a block of values (native/src/kernels/elementwise.cc: gelu_block) and get the
// same bits as erf().

// t = 1 / (1 + z/2) for z = |x|.
STRATA_INLINE float erfc_t(float z) { return 1.0f / std::fma(0.5f, z, 1.0f); }

// -z^2 + P(t): the exponent of erfc(z) = t e^(...).
STRATA_INLINE float erfc_exponent(float z, float t) {
  float p = 0.17087277f;
  p = std::fma(p, t, -0.82215223f);
  p = std::fma(p, t, 1.48851587f);
  p = std::fma(p, t, -1.13520398f);
  p = std::fma(p, t, 0.27886807f);
  p = std::fma(p, t, -0.18628806f);
  p = std::fma(p, t, 0.09678418f);
  p = std::fma(p, t, 0.37409196f);
  p = std::fma(p, t, 1.00002368f);
  p = std::fma(p, t, -1.26551223f);
  return std::fma(-z, z, p);
}

// e^x for x <= 0 (the erfc exponent): exp()'s reduction and polynomial with fused steps.
STRATA_INLINE float erfc_exp(float x) {
  x = x < -87.3f ? -87.3f : x;
  const float kShift = 12582912.0f;
  const float n = std::fma(x, 1.44269504088896341f, kShift) - kShift;
  float r = std::fma(n, -0.693145751953125f, x);
  r = std::fma(n, -1.428606765330187e-06f, r);
  float p = 1.0f / 720.0f;
  p = std::fma(p, r, 1.0f / 120.0f);
  p = std::fma(p, r, 1.0f / 24.0f);
  p = std::fma(p, r, 1.0f / 6.0f);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  return p * bits_to_float((static_cast<int32_t>(n) + 127) << 23);
}

// erf(x) from t = erfc_t(|x|) and e = erfc_exp(erfc_exponent(|x|, t)).
STRATA_INLINE float erf_finish(float x, float t, float e) {
  const float r = 1.0f - t * e;
  return x < 0 ? -r : r;
}

STRATA_INLINE float erf(float x) {
  const float z = x < 0 ? -x : x;
  const float t = erfc_t(z);
  return erf_finish(x, t, erfc_exp(erfc_exponent(z, t)));
}

}  // namespace strata::vm
