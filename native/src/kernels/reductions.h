// Lane-parallel reductions: 16 independent partial sums that the vectorizer maps to one
// register without needing -ffast-math reassociation.
#pragma once

#include <cmath>
#include <cstdint>

#include "vmath.h"

namespace strata::vm {

constexpr int kLanes = 16;

STRATA_INLINE float dot(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) acc[l] += a[i + l] * b[i + l];
  float s = 0;
  for (; i < n; i++) s += a[i] * b[i];
  for (int l = 0; l < kLanes; l++) s += acc[l];
  return s;
}

STRATA_INLINE float sum(const float* a, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) acc[l] += a[i + l];
  float s = 0;
  for (; i < n; i++) s += a[i];
  for (int l = 0; l < kLanes; l++) s += acc[l];
  return s;
}

// Sum of (a[i] - c)^2.
STRATA_INLINE float sum_sq_dev(const float* a, float c, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) {
      const float d = a[i + l] - c;
      acc[l] += d * d;
    }
  float s = 0;
  for (; i < n; i++) s += (a[i] - c) * (a[i] - c);
  for (int l = 0; l < kLanes; l++) s += acc[l];
  return s;
}

// max, with NaN propagated
STRATA_INLINE float max(const float* a, int64_t n) {
  float acc[kLanes];
  for (int l = 0; l < kLanes; l++) acc[l] = -INFINITY;
  bool nan = false;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) {
      const float v = a[i + l];
      nan |= v != v;
      acc[l] = v > acc[l] ? v : acc[l];
    }
  float m = -INFINITY;
  for (; i < n; i++) {
    nan |= a[i] != a[i];
    m = a[i] > m ? a[i] : m;
  }
  for (int l = 0; l < kLanes; l++) m = acc[l] > m ? acc[l] : m;
  return nan ? NAN : m;
}

STRATA_INLINE float min(const float* a, int64_t n) {
  float acc[kLanes];
  for (int l = 0; l < kLanes; l++) acc[l] = INFINITY;
  bool nan = false;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) {
      const float v = a[i + l];
      nan |= v != v;
      acc[l] = v < acc[l] ? v : acc[l];
    }
  float m = INFINITY;
  for (; i < n; i++) {
    nan |= a[i] != a[i];
    m = a[i] < m ? a[i] : m;
  }
  for (int l = 0; l < kLanes; l++) m = acc[l] < m ? acc[l] : m;
  return nan ? NAN : m;
}

}  // namespace strata::vm
