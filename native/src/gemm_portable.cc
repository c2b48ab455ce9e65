// Portable GEMM kernels in plain C++ (the compiler vectorizes them for the baseline target):
// a 4x8 micro-tile. Used on CPUs without AVX2+FMA and as the STRATA_ISA=portable reference.
#include <algorithm>

#include "gemm_kernels.h"

namespace strata {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 8;

void pack_a(const float* a, int64_t lda, bool trans, int64_t rows, int64_t kc, float* dst) {
  for (int64_t i0 = 0; i0 < rows; i0 += kMr, dst += kMr * kc) {
    const int64_t r = std::min<int64_t>(kMr, rows - i0);
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t i = 0; i < kMr; ++i) {
        dst[k * kMr + i] = i >= r ? 0.0f : trans ? a[k * lda + i0 + i] : a[(i0 + i) * lda + k];
      }
    }
  }
}

void pack_b(const float* b, int64_t ldb, bool trans, int64_t kc, int64_t cols, float* dst) {
  for (int64_t j0 = 0; j0 < cols; j0 += kNr, dst += kNr * kc) {
    const int64_t c = std::min<int64_t>(kNr, cols - j0);
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t j = 0; j < kNr; ++j) {
        dst[k * kNr + j] = j >= c ? 0.0f : trans ? b[(j0 + j) * ldb + k] : b[k * ldb + j0 + j];
      }
    }
  }
}

void micro(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int mr_used,
           int nr_used, float alpha, float beta, const float* /*prefetch*/, int64_t /*prefetch_lines*/) {
  float acc[kMr][kNr] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < kMr; ++i) {
      const float av = a[i];
      for (int j = 0; j < kNr; ++j) acc[i][j] += av * b[j];
    }
    a += kMr;
    b += kNr;
  }
  for (int i = 0; i < mr_used; ++i) {
    float* row = c + i * ldc;
    for (int j = 0; j < nr_used; ++j) {
      const float v = alpha * acc[i][j];
      row[j] = beta != 0.0f ? v + beta * row[j] : v;
    }
  }
}

constexpr int64_t kGemvBlock = 1024;

void gemv_rows(int m, int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
               int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  float acc[kGemvBlock];
  for (int i = 0; i < m; ++i) {
    const float* xi = x + i * ldx;
    float* yi = y + i * ldy;
    for (int64_t j0 = 0; j0 < n; j0 += kGemvBlock) {
      const int64_t w = std::min(kGemvBlock, n - j0);
      std::fill(acc, acc + w, 0.0f);
      for (int64_t kk = 0; kk < k; ++kk) {
        const float xv = xi[kk];
        const float* row = mat + kk * ld + j0;
        for (int64_t j = 0; j < w; ++j) acc[j] += xv * row[j];
      }
      for (int64_t j = 0; j < w; ++j) {
        const float v = alpha * acc[j];
        yi[j0 + j] = beta != 0.0f ? v + beta * yi[j0 + j] : v;
      }
    }
  }
}

void gemv_dots(int m, int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
               int64_t ld, float* y, int64_t ldy, float alpha, float beta) {
  constexpr int kLanes = 8;  // independent partial sums, so the loop vectorizes without reassociation
  const int64_t k8 = k - k % kLanes;
  for (int i = 0; i < m; ++i) {
    const float* xi = x + i * ldx;
    for (int64_t j = 0; j < n; ++j) {
      const float* row = mat + j * ld;
      float part[kLanes] = {};
      for (int64_t kk = 0; kk < k8; kk += kLanes) {
        for (int t = 0; t < kLanes; ++t) part[t] += xi[kk + t] * row[kk + t];
      }
      float sum = 0.0f;
      for (int t = 0; t < kLanes; ++t) sum += part[t];
      for (int64_t kk = k8; kk < k; ++kk) sum += xi[kk] * row[kk];
      const float v = alpha * sum;
      float* out = y + i * ldy + j;
      *out = beta != 0.0f ? v + beta * *out : v;
    }
  }
}

}  // namespace

const GemmKernels kGemmKernelsPortable = {
    "portable", kMr, kNr, /*kc=*/256, /*mc=*/128, /*nc=*/1024, pack_a, pack_b, micro, gemv_rows, gemv_dots,
};

}  // namespace strata
