// The per-instruction-set pieces of the fp32 GEMM: packing, the micro-kernel and the GEMV kernels.
// gemm.cc owns blocking, threading and dispatch; each gemm_<isa>.cc fills one GemmKernels table.
//
// Packed layouts (kc = depth of the current K block):
//   A panel p (MR rows):  dst[p*MR*kc + k*MR + i] = op(A)(p*MR + i, k), rows past the end are 0.
//   B panel p (NR cols):  dst[p*NR*kc + k*NR + j] = op(B)(k, p*NR + j), cols past the end are 0.
#pragma once

#include <cstdint>

namespace strata {

constexpr int kGemvMaxRows = 8;

struct GemmKernels {
  const char* name;
  int mr, nr;  // micro-tile of C computed by one micro-kernel call
  int kc;      // K block: an A and a B micro-panel together stay in L2
  int mc;      // M block packed at a time (multiple of mr): the packed A block stays in L2
  int nc;      // widest N tile one task packs (multiple of nr)

  // Packs rows [0, rows) and depth [0, kc) of op(A), whose element (i, k) is a[i*lda + k]
  // (trans = false) or a[k*lda + i] (trans = true), into ceil(rows/mr) panels.
  void (*pack_a)(const float* a, int64_t lda, bool trans, int64_t rows, int64_t kc, float* dst);

  // Packs depth [0, kc) and columns [0, cols) of op(B), whose element (k, j) is b[k*ldb + j]
  // (trans = false) or b[j*ldb + k] (trans = true), into ceil(cols/nr) panels.
  void (*pack_b)(const float* b, int64_t ldb, bool trans, int64_t kc, int64_t cols, float* dst);

  // C[i*ldc + j] for i < mr_used, j < nr_used:
  //   beta == 0: alpha * acc        otherwise: alpha * acc + beta * C
  // where acc = sum over k < kc of a[k*mr + i] * b[k*nr + j] (one packed panel of each), summed
  // in chains of at most 256 products: each chain lands on C as above (beta for the first, 1
  // after), so every kernel rounds as one whose kc is 256.
  // Meanwhile the kernel may prefetch the `prefetch_lines` cache lines from `prefetch` (a slice
  // of the next B panel) toward L2, spread over its K loop; kernels without the need ignore them.
  void (*micro)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int mr_used,
                int nr_used, float alpha, float beta, const float* prefetch, int64_t prefetch_lines);

  // Skinny products, for when op(A) has only a few rows (decode steps, GEMV). For i < m
  // (1 <= m <= kGemvMaxRows) and j < n:
  //   y[i*ldy + j] = alpha * sum_k x[i*ldx + k] * Op(k, j)   (+ beta * y[i*ldy + j] if beta != 0)
  // gemv_rows: Op(k, j) = mat[k*ld + j] (rows of mat are contiguous in j)
  // gemv_dots: Op(k, j) = mat[j*ld + k] (each output is a dot product of contiguous runs)
  void (*gemv_rows)(int m, int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
                    int64_t ld, float* y, int64_t ldy, float alpha, float beta);
  void (*gemv_dots)(int m, int64_t k, int64_t n, const float* x, int64_t ldx, const float* mat,
                    int64_t ld, float* y, int64_t ldy, float alpha, float beta);
};

extern const GemmKernels kGemmKernelsAvx512;
extern const GemmKernels kGemmKernelsAvx2;
extern const GemmKernels kGemmKernelsPortable;

}  // namespace strata
