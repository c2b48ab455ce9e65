#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../threadpool.h"
#include "kernels.h"
#include "reductions.h"
#include "vmath.h"

// ISA levels, not CPU models: GCC dispatches "arch=skylake-avx512" on the exact CPU model, so a
// Sapphire Rapids or Zen 4 ran the baseline SSE2 clone. x86-64-v4 / v3 dispatch on feature bits.
#define STRATA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
// No fused multiply-add contraction in the clones: every ISA then rounds exactly as the baseline
// build does, so results do not depend on the CPU (the tests and golden files were made that way).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace strata {
namespace {

// Rows per pool task so that each task touches about `work` elements.
int64_t rows_per_task(int64_t cols, int64_t work = 16384) { return std::max<int64_t>(1, work / std::max<int64_t>(cols, 1)); }

template <class Fn>
void parallel_rows(int64_t rows, int64_t cols, Fn&& fn) {
  if (rows == 0) return;
  const int64_t per = rows_per_task(cols);
  parallel_for((rows + per - 1) / per, [&](int64_t t, int) {
    const int64_t r1 = std::min(rows, (t + 1) * per);
    for (int64_t r = t * per; r < r1; r++) fn(r);
  });
}

STRATA_CLONES void reduce_rows(int op, const float* x, int64_t n, float* out) {
  *out = op == 0 ? vm::sum(x, n) : (op == 1 ? vm::max(x, n) : vm::min(x, n));
}

// Reduces n rows of `inner` contiguous values into out[inner].
STRATA_CLONES void reduce_strided(int op, const float* x, int64_t n, int64_t inner, float* out) {
  const float init = op == 0 ? 0.0f : (op == 1 ? -INFINITY : INFINITY);
  for (int64_t j = 0; j < inner; j++) out[j] = init;
  for (int64_t i = 0; i < n; i++) {
    const float* row = x + i * inner;
    if (op == 0) {
      for (int64_t j = 0; j < inner; j++) out[j] += row[j];
    } else if (op == 1) {
      for (int64_t j = 0; j < inner; j++) out[j] = (row[j] > out[j] || row[j] != row[j]) ? row[j] : out[j];
    } else {
      for (int64_t j = 0; j < inner; j++) out[j] = (row[j] < out[j] || row[j] != row[j]) ? row[j] : out[j];
    }
  }
}

STRATA_CLONES void softmax_row(const float* x, int64_t cols, float* out, bool log) {
  const float m = vm::max(x, cols);
  if (m == -INFINITY) {
    // fully masked row: zeros (softmax) / -inf (log-softmax), matching the reference backend
    for (int64_t c = 0; c < cols; c++) out[c] = log ? -INFINITY : 0.0f;
    return;
  }
  for (int64_t c = 0; c < cols; c++) {
    const float d = x[c] - m;
    const float e = vm::exp(d);
    out[c] = d < -87.3f ? 0.0f : e;
  }
  const float s = vm::sum(out, cols);
  if (log) {
    const float lse = std::log(s);
    for (int64_t c = 0; c < cols; c++) out[c] = x[c] - m - lse;
  } else {
    const float inv = 1.0f / s;
    for (int64_t c = 0; c < cols; c++) out[c] *= inv;
  }
}

STRATA_CLONES void add_row(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// x may be out (each element is read before it is written).
STRATA_CLONES void layer_norm_row(const float* x, const float* w, const float* b, int64_t cols, float eps, float* out,
                                  float* mean, float* rstd) {
  const float mu = vm::sum(x, cols) / static_cast<float>(cols);
  const float var = vm::sum_sq_dev(x, mu, cols) / static_cast<float>(cols);
  const float rs = 1.0f / std::sqrt(var + eps);
  *mean = mu;
  *rstd = rs;
  if (w && b) {
    for (int64_t c = 0; c < cols; c++) out[c] = (x[c] - mu) * rs * w[c] + b[c];
  } else if (w) {
    for (int64_t c = 0; c < cols; c++) out[c] = (x[c] - mu) * rs * w[c];
  } else if (b) {
    for (int64_t c = 0; c < cols; c++) out[c] = (x[c] - mu) * rs + b[c];
  } else {
    for (int64_t c = 0; c < cols; c++) out[c] = (x[c] - mu) * rs;
  }
}

// The mean square is computed as ggml computes it (f32 squares summed in f64, the mean rounded to
// f32), so a GGUF model normalizes to the same floats here and in llama.cpp. That matters beyond
// the last bit: the q8_0 quantization of the activations that follows rounds x * 127 / amax, and
// quantized embeddings with unit norm weights put values exactly on its ties ((q - 8) * 15.875
// for q4_0), which then fall either way with the last bit of the norm.
STRATA_CLONES void rms_norm_row(const float* x, const float* w, int64_t cols, float eps, float* out, float* rstd) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // four chains: f64 sums this short do not depend on the order
  int64_t i = 0;
  for (; i + 4 <= cols; i += 4) {
    s0 += static_cast<double>(x[i] * x[i]);
    s1 += static_cast<double>(x[i + 1] * x[i + 1]);
    s2 += static_cast<double>(x[i + 2] * x[i + 2]);
    s3 += static_cast<double>(x[i + 3] * x[i + 3]);
  }
  for (; i < cols; i++) s0 += static_cast<double>(x[i] * x[i]);
  const float ms = static_cast<float>((s0 + s1 + s2 + s3) / static_cast<double>(cols));
  const float rs = 1.0f / std::sqrt(ms + eps);
  *rstd = rs;
  if (w) {
    for (int64_t c = 0; c < cols; c++) out[c] = x[c] * rs * w[c];
  } else {
    for (int64_t c = 0; c < cols; c++) out[c] = x[c] * rs;
  }
}

STRATA_CLONES void rope_row(const float* x, int64_t d, const float* cos, const float* sin, bool interleaved, bool inverse,
                            float* out) {
  const int64_t half = d / 2;
  const float sign = inverse ? -1.0f : 1.0f;
  if (interleaved) {
    for (int64_t i = 0; i < half; i++) {
      const float c = cos[i], s = sign * sin[i];
      const float x0 = x[2 * i], x1 = x[2 * i + 1];
      out[2 * i] = x0 * c - x1 * s;
      out[2 * i + 1] = x1 * c + x0 * s;
    }
  } else {
    for (int64_t i = 0; i < half; i++) {
      const float c = cos[i], s = sign * sin[i];
      const float x0 = x[i], x1 = x[i + half];
      out[i] = x0 * c - x1 * s;
      out[i + half] = x1 * c + x0 * s;
    }
  }
}

}  // namespace

void reduce_f32(int op, const float* x, int64_t outer, int64_t n, int64_t inner, float* out) {
  if (inner == 1) {
    parallel_rows(outer, n, [&](int64_t o) { reduce_rows(op, x + o * n, n, out + o); });
  } else {
    parallel_rows(outer, n * inner, [&](int64_t o) { reduce_strided(op, x + o * n * inner, n, inner, out + o * inner); });
  }
}

void arg_reduce_f32(int op, const float* x, int64_t outer, int64_t n, int64_t inner, int32_t* out) {
  parallel_rows(outer * inner, n, [&](int64_t r) {
    const int64_t o = r / inner, j = r % inner;
    const float* base = x + o * n * inner + j;
    int64_t best = 0;
    float bv = base[0];
    for (int64_t i = 1; i < n && bv == bv; i++) {
      const float v = base[i * inner];
      if (v != v || (op == 0 ? v > bv : v < bv)) {
        best = i;
        bv = v;
      }
    }
    out[r] = static_cast<int32_t>(best);
  });
}

void softmax_f32(const float* x, int64_t rows, int64_t cols, float* out, bool log) {
  parallel_rows(rows, cols, [&](int64_t r) { softmax_row(x + r * cols, cols, out + r * cols, log); });
}

void layer_norm_f32(const float* x, const float* residual, const float* w, const float* b, int64_t rows, int64_t cols,
                    float eps, float* out, float* mean, float* rstd) {
  parallel_rows(rows, cols, [&](int64_t r) {
    const float* src = x + r * cols;
    if (residual) {
      // the row's sums, normalized in place while they are in L1
      add_row(src, residual + r * cols, cols, out + r * cols);
      src = out + r * cols;
    }
    layer_norm_row(src, w, b, cols, eps, out + r * cols, mean + r, rstd + r);
  });
}

void rms_norm_f32(const float* x, const float* w, int64_t rows, int64_t cols, float eps, float* out, float* rstd) {
  parallel_rows(rows, cols, [&](int64_t r) { rms_norm_row(x + r * cols, w, cols, eps, out + r * cols, rstd + r); });
}

void rope_f32(const float* x, int64_t rows, int64_t t, int64_t d, const float* cos, const float* sin, int64_t rows_per_table,
              bool interleaved, bool inverse, float* out) {
  const int64_t half = d / 2;
  parallel_rows(rows * t, d, [&](int64_t r) {
    const int64_t p = r % t;
    const int64_t tab = ((r / t) / rows_per_table * t + p) * half;
    rope_row(x + r * d, d, cos + tab, sin + tab, interleaved, inverse, out + r * d);
  });
}

void im2col_f32(const float* x, const ConvGeometry& g, float* cols) {
  const int64_t L = g.out_h * g.out_w;
  const int64_t rows = g.channels * g.kh * g.kw;
  parallel_rows(g.batch * rows, L, [&](int64_t br) {
    const int64_t b = br / rows, row = br % rows;
    const int64_t c = row / (g.kh * g.kw), ki = (row / g.kw) % g.kh, kj = row % g.kw;
    const float* img = x + (b * g.channels + c) * g.height * g.width;
    float* dst = cols + br * L;
    for (int64_t oy = 0; oy < g.out_h; oy++) {
      const int64_t iy = oy * g.stride_h - g.pad_h + ki * g.dil_h;
      float* drow = dst + oy * g.out_w;
      if (iy < 0 || iy >= g.height) {
        std::memset(drow, 0, sizeof(float) * static_cast<size_t>(g.out_w));
        continue;
      }
      const float* srow = img + iy * g.width;
      for (int64_t ox = 0; ox < g.out_w; ox++) {
        const int64_t ix = ox * g.stride_w - g.pad_w + kj * g.dil_w;
        drow[ox] = (ix >= 0 && ix < g.width) ? srow[ix] : 0.0f;
      }
    }
  });
}

void col2im_f32(const float* cols, const ConvGeometry& g, float* x) {
  const int64_t L = g.out_h * g.out_w;
  const int64_t khw = g.kh * g.kw;
  // one task per (batch, channel) image plane, so no two tasks write the same element
  parallel_rows(g.batch * g.channels, khw * L, [&](int64_t bc) {
    float* img = x + bc * g.height * g.width;
    const float* src = cols + bc * khw * L;
    for (int64_t kk = 0; kk < khw; kk++) {
      const int64_t ki = kk / g.kw, kj = kk % g.kw;
      for (int64_t oy = 0; oy < g.out_h; oy++) {
        const int64_t iy = oy * g.stride_h - g.pad_h + ki * g.dil_h;
        if (iy < 0 || iy >= g.height) continue;
        const float* srow = src + kk * L + oy * g.out_w;
        float* drow = img + iy * g.width;
        for (int64_t ox = 0; ox < g.out_w; ox++) {
          const int64_t ix = ox * g.stride_w - g.pad_w + kj * g.dil_w;
          if (ix >= 0 && ix < g.width) drow[ix] += srow[ox];
        }
      }
    }
  });
}

}  // namespace strata
