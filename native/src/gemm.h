// fp32 GEMM: C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] for b in [0, batch).
//
// Row-major, M x N x K with op(X) = X or X^T per operand. Pointers point at element (0, 0) of
// batch 0; batch b starts stride_x elements further (0 broadcasts one matrix to every batch).
// beta == 0 writes C without reading it (NaN in C is not propagated). Batches are applied in
// order, so when C matrices of different batches overlap (stride_c == 0, say) the result is what
// a sequential loop over b would leave.
//
// Preconditions (checked by the caller, see bind_gemm.cc): every element touched is in bounds,
// ldc >= N when M > 1, and C does not overlap A or B.
#pragma once

#include <cstdint>

namespace strata {

// Activation applied to each element of C once its value is final (the GEMM's epilogue), with
// the arithmetic of the elementwise kernels, so that GEMM + epilogue equals GEMM then unary op.
enum class GemmEpilogue : int { kNone = 0, kGelu = 1, kGeluTanh = 2 };

// c[i*ldc + j] = act(c[i*ldc + j]) for i < rows, j < cols (native/src/kernels/elementwise.cc).
void apply_epilogue_f32(GemmEpilogue act, float* c, int64_t ldc, int64_t rows, int64_t cols);

struct GemmArgs {
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  int64_t lda = 0, ldb = 0, ldc = 0;
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  float alpha = 1.0f, beta = 0.0f;
  // Run on the calling thread only: for kernels that already split their work over the pool and
  // call the GEMM once per task (blocked attention).
  bool serial = false;
  GemmEpilogue epilogue = GemmEpilogue::kNone;
  // A row of N values every row of C starts from (a linear layer's bias): C = bias + alpha * A B,
  // with beta == 0. The blocked path writes it into each C tile just before the tile's first
  // K block accumulates onto it, while the tile is in L1, instead of a pass over all of C first;
  // the sums are the same (bias + the first block's products, then the next blocks').
  const float* bias = nullptr;
  // op(B) already packed by gemm_pack_b for this K x N (inference weights, packed once): the
  // blocked path reads its panels instead of packing B on every call, and runs whatever the
  // shape (b may then be null). The same panels and K blocks as packing on the fly, so the
  // result is bit for bit the one without it. One B for every batch (stride_b is ignored).
  const float* packed_b = nullptr;
};

void gemm_f32(const GemmArgs& args);

// Floats gemm_pack_b writes for a K x N op(B) with the active kernels' panel width and K block
// (one panel layout per K block, panels of nr columns, the last one zero-padded).
int64_t gemm_packed_b_size(int64_t k, int64_t n);

// Packs op(B) (K x N; element (k, j) is b[k*ldb + j], or b[j*ldb + k] when trans_b) into dst,
// gemm_packed_b_size(k, n) floats, 64-byte aligned. Splits the K blocks over the thread pool.
void gemm_pack_b(const float* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, float* dst);

// Instruction set the GEMM kernels were chosen for: "avx512", "avx2" or "portable".
const char* gemm_isa_name();

}  // namespace strata
