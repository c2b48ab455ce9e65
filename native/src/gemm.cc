// GEMM driver: picks the kernel table for the active instruction set, splits the work into tasks
// for the thread pool, and runs the BLIS-style blocked loops, or the skinny (GEMV-like) kernels
// when M or N is small.
#include "gemm.h"

#include <algorithm>
#include <cmath>

#include "cpu.h"
#include "gemm_kernels.h"
#include "scratch.h"
#include "threadpool.h"

namespace strata {

namespace {

const GemmKernels& kernels() {
  static const GemmKernels* const table = [] {
    switch (active_isa()) {
#if defined(__x86_64__) || defined(__i386__)
      case Isa::kAvx512:
        return &kGemmKernelsAvx512;
      case Isa::kAvx2:
        return &kGemmKernelsAvx2;
#endif
      default:
        break;
    }
    return &kGemmKernelsPortable;
  }();
  return *table;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Below this many multiply-adds a call runs on the calling thread: waking the pool costs more.
constexpr double kSerialFmas = 320000;

thread_local ScratchBuffer tl_packed_a;
thread_local ScratchBuffer tl_packed_b;
thread_local ScratchBuffer tl_vector_x;
thread_local ScratchBuffer tl_vector_y;

// ---------------------------------------------------------------------------------------------
// Blocked path.

// One task: batches [b0, b1) of the C tile rows [i0, i1) x cols [j0, j1).
void run_blocked_tile(const GemmArgs& p, const GemmKernels& kr, int64_t b0, int64_t b1,
                      int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const int64_t nt = j1 - j0;
  const int64_t kc_max = std::min<int64_t>(kr.kc, p.k);
  float* packed_b = p.packed_b != nullptr ? nullptr : tl_packed_b.floats(static_cast<size_t>(kc_max * round_up(nt, kr.nr)));
  float* packed_a = tl_packed_a.floats(static_cast<size_t>(kc_max * round_up(std::min<int64_t>(kr.mc, i1 - i0), kr.mr)));
  for (int64_t bi = b0; bi < b1; ++bi) {
    const float* a = p.a + bi * p.stride_a;
    const float* b = p.packed_b != nullptr ? nullptr : p.b + bi * p.stride_b;
    float* c = p.c + bi * p.stride_c;
    for (int64_t pc = 0; pc < p.k; pc += kr.kc) {
      const int64_t kc = std::min<int64_t>(kr.kc, p.k - pc);
      const float* b_panels = packed_b;
      if (p.packed_b != nullptr) {
        // K block pc starts after pc full-depth blocks of all the padded columns; j0 is a
        // multiple of nr (tiles are whole panels), so its panels start j0 * kc into the block
        b_panels = p.packed_b + pc * round_up(p.n, kr.nr) + j0 * kc;
      } else {
        const float* b_block = p.trans_b ? b + j0 * p.ldb + pc : b + pc * p.ldb + j0;
        kr.pack_b(b_block, p.ldb, p.trans_b, kc, nt, packed_b);
      }
      // later K blocks accumulate onto C; with a bias the first one accumulates onto the bias
      const bool bias_first = p.bias != nullptr && pc == 0;
      const float beta = pc == 0 && !bias_first ? p.beta : 1.0f;
      const bool last_block = pc + kc >= p.k;
      for (int64_t ic = i0; ic < i1; ic += kr.mc) {
        const int64_t mc = std::min<int64_t>(kr.mc, i1 - ic);
        const float* a_block = p.trans_a ? a + pc * p.lda + ic : a + ic * p.lda + pc;
        kr.pack_a(a_block, p.lda, p.trans_a, mc, kc, packed_a);
        for (int64_t jr = 0; jr < nt; jr += kr.nr) {
          const int nr = static_cast<int>(std::min<int64_t>(kr.nr, nt - jr));
          const float* b_panel = b_panels + jr * kc;
          float* c_col = c + j0 + jr;
          // The next B panel (nr x kc floats, 48 KB) is fetched in slices, one per micro-kernel
          // call on this one, which spreads its slice over its K loop: panels packed ahead come
          // from L3 or memory, and the hardware prefetchers stop at each 4 KB page, so the first
          // call on a new panel would stall (native/lab/gemm_packed_layers.cc: 7% of a BERT
          // forward's GEMM time, 3% with the prefetches issued in a burst between calls).
          const float* next_panel = jr + kr.nr < nt ? b_panel + kr.nr * kc : nullptr;
          const int64_t panel_lines = kr.nr * kc / 16;
          const int64_t calls = ceil_div(mc, kr.mr);
          const int64_t lines_per_call = ceil_div(panel_lines, calls);
          for (int64_t ir = 0; ir < mc; ir += kr.mr) {
            const int mr = static_cast<int>(std::min<int64_t>(kr.mr, mc - ir));
            const int64_t l0 = std::min(panel_lines, (ir / kr.mr) * lines_per_call);
            const int64_t lines = next_panel != nullptr ? std::min(panel_lines, l0 + lines_per_call) - l0 : 0;
            float* c_tile = c_col + (ic + ir) * p.ldc;
            if (bias_first) {
              for (int i = 0; i < mr; ++i) std::copy_n(p.bias + j0 + jr, nr, c_tile + i * p.ldc);
            }
            kr.micro(kc, packed_a + ir * kc, b_panel, c_tile, p.ldc, mr, nr, p.alpha, beta,
                     next_panel != nullptr ? next_panel + l0 * 16 : nullptr, lines);
            if (last_block && p.epilogue != GemmEpilogue::kNone) {
              // the tile is final and still in L1
              apply_epilogue_f32(p.epilogue, c_tile, p.ldc, mr, nr);
            }
          }
        }
      }
    }
  }
}

struct TileGrid {
  int64_t mt = 0, nt = 0;        // tile size
  int64_t tiles_m = 1, tiles_n = 1;
  int64_t batch_group = 1;       // batches per task
};

// Chooses the tile grid that minimises a simple model of the slowest thread's time: compute on
// padded micro-tiles, plus packing, plus a fixed cost per task.
TileGrid plan_tiles(const GemmArgs& p, const GemmKernels& kr, int threads) {
  const int64_t tn_min = ceil_div(p.n, kr.nc);
  TileGrid best;
  double best_cost = INFINITY;
  const int64_t tm_max = std::min<int64_t>(ceil_div(p.m, kr.mr), 2 * threads + 1);
  const int64_t tn_max = std::min<int64_t>(ceil_div(p.n, kr.nr), tn_min + 2 * threads);
  int64_t groups_options[4] = {1, ceil_div(p.batch, threads), ceil_div(p.batch, 2 * threads),
                               ceil_div(p.batch, 4 * threads)};
  for (int64_t tm = 1; tm <= tm_max; ++tm) {
    const int64_t mt = round_up(ceil_div(p.m, tm), kr.mr);
    const int64_t tiles_m = ceil_div(p.m, mt);
    for (int64_t tn = tn_min; tn <= tn_max; ++tn) {
      const int64_t nt = round_up(ceil_div(p.n, tn), kr.nr);
      const int64_t tiles_n = ceil_div(p.n, nt);
      for (int64_t group : groups_options) {
        group = std::max<int64_t>(1, group);
        const int64_t tasks = ceil_div(p.batch, group) * tiles_m * tiles_n;
        const double rounds = static_cast<double>(ceil_div(tasks, threads));
        const double compute = static_cast<double>(mt) * nt * p.k / 32.0;
        const double packing = static_cast<double>(mt + nt) * p.k * 0.25;
        const double cost = rounds * (group * (compute + packing) + 2000.0);
        if (cost < best_cost) {
          best_cost = cost;
          best.mt = mt;
          best.nt = nt;
          best.tiles_m = tiles_m;
          best.tiles_n = tiles_n;
          best.batch_group = group;
        }
      }
    }
  }
  return best;
}

void run_blocked(const GemmArgs& p, const GemmKernels& kr) {
  const double fmas = static_cast<double>(p.m) * p.n * p.k * p.batch;
  const int threads = p.serial || fmas < kSerialFmas ? 1 : thread_count();
  if (threads == 1) {
    // Tiles of nc columns even when B is packed ahead: one tile spanning N would pack A once
    // per call instead of once per tile, but measured no faster (lab: 1,257-1,267 ms against
    // 1,260-1,277 for a BERT forward's linears).
    for (int64_t j0 = 0; j0 < p.n; j0 += kr.nc) {
      run_blocked_tile(p, kr, 0, p.batch, 0, p.m, j0, std::min<int64_t>(p.n, j0 + kr.nc));
    }
    return;
  }
  const TileGrid g = plan_tiles(p, kr, threads);
  const int64_t groups = ceil_div(p.batch, g.batch_group);
  const int64_t tiles = g.tiles_m * g.tiles_n;
  parallel_for(groups * tiles, [&](int64_t task, int) {
    const int64_t group = task / tiles;
    const int64_t tile = task % tiles;
    const int64_t i0 = (tile / g.tiles_n) * g.mt;
    const int64_t j0 = (tile % g.tiles_n) * g.nt;
    const int64_t b0 = group * g.batch_group;
    run_blocked_tile(p, kr, b0, std::min(p.batch, b0 + g.batch_group), i0,
                     std::min(p.m, i0 + g.mt), j0, std::min(p.n, j0 + g.nt));
  });
}

// ---------------------------------------------------------------------------------------------
// Skinny path: when op(A) has at most kSkinnyRows rows (decode steps, GEMV) packing would cost
// as much as the product, so op(B) is streamed once, straight from memory. When instead op(B)
// has few columns, the same kernels compute C^T = op(B)^T op(A)^T.
//
// Y (rows x n) = alpha * X (rows x k) * Op (k x n) + beta * Y, per batch.

constexpr int64_t kSkinnyRows = 8;

struct SkinnyArgs {
  int64_t rows = 0, k = 0, n = 0, batch = 1;
  const float* x = nullptr;
  int64_t x_row_step = 0, x_k_step = 0, x_batch_step = 0;
  const float* mat = nullptr;
  int64_t ld = 0, mat_batch_step = 0;
  bool dots = false;  // Op(k, j) = mat[j*ld + k]; else mat[k*ld + j]
  float* y = nullptr;
  int64_t y_row_step = 0, y_col_step = 0, y_batch_step = 0;
  float alpha = 1.0f, beta = 0.0f;
  bool serial = false;
  GemmEpilogue epilogue = GemmEpilogue::kNone;
};

// Columns [j0, j1) of Y for batch bi.
void run_skinny_chunk(const SkinnyArgs& g, const GemmKernels& kr, int64_t bi, int64_t j0, int64_t j1) {
  const int64_t len = j1 - j0;
  const float* x = g.x + bi * g.x_batch_step;
  int64_t ldx = g.x_row_step;
  if (g.x_k_step != 1) {  // gather X into contiguous rows
    float* xs = tl_vector_x.floats(static_cast<size_t>(g.rows * g.k));
    for (int64_t i = 0; i < g.rows; ++i) {
      for (int64_t kk = 0; kk < g.k; ++kk) xs[i * g.k + kk] = x[i * g.x_row_step + kk * g.x_k_step];
    }
    x = xs;
    ldx = g.k;
  }
  float* y = g.y + bi * g.y_batch_step + j0 * g.y_col_step;
  float* ys = y;
  int64_t ldy = g.y_row_step;
  if (g.y_col_step != 1) {  // Y columns are strided (the transposed case): work on a copy
    ys = tl_vector_y.floats(static_cast<size_t>(g.rows * len));
    ldy = len;
    if (g.beta != 0.0f) {
      for (int64_t i = 0; i < g.rows; ++i) {
        for (int64_t j = 0; j < len; ++j) ys[i * len + j] = y[i * g.y_row_step + j * g.y_col_step];
      }
    }
  }
  const float* mat = g.mat + bi * g.mat_batch_step;
  // Kernels may pass over mat more than once for more than 4 rows (gemv_rows does): narrow the
  // columns so that a block of mat (k x width, ~512 KB) stays in L2 between passes.
  int64_t width = len;
  if (g.rows > 4) width = std::max<int64_t>(64, round_up((1 << 17) / std::max<int64_t>(1, g.k), 16));
  for (int64_t c0 = 0; c0 < len; c0 += width) {
    const int64_t w = std::min(width, len - c0);
    const float* block = mat + (g.dots ? (j0 + c0) * g.ld : j0 + c0);
    for (int64_t i = 0; i < g.rows; i += kGemvMaxRows) {
      const int m = static_cast<int>(std::min<int64_t>(kGemvMaxRows, g.rows - i));
      (g.dots ? kr.gemv_dots : kr.gemv_rows)(m, g.k, w, x + i * ldx, ldx, block, g.ld,
                                              ys + i * ldy + c0, ldy, g.alpha, g.beta);
    }
  }
  if (g.epilogue != GemmEpilogue::kNone) {
    apply_epilogue_f32(g.epilogue, ys, ldy, g.rows, len);
  }
  if (ys != y) {
    for (int64_t i = 0; i < g.rows; ++i) {
      for (int64_t j = 0; j < len; ++j) y[i * g.y_row_step + j * g.y_col_step] = ys[i * len + j];
    }
  }
}

void run_skinny(const SkinnyArgs& g, const GemmKernels& kr) {
  const double fmas = static_cast<double>(g.rows) * g.n * g.k * g.batch;
  const int threads = g.serial || fmas < kSerialFmas ? 1 : thread_count();
  if (threads == 1) {
    for (int64_t bi = 0; bi < g.batch; ++bi) run_skinny_chunk(g, kr, bi, 0, g.n);
    return;
  }
  // Long contiguous column ranges stream best; split each batch only as far as needed.
  const int64_t per_batch = ceil_div(threads, g.batch);
  const int64_t chunk = std::max<int64_t>(64, round_up(ceil_div(g.n, per_batch), 16));
  const int64_t chunks = ceil_div(g.n, chunk);
  parallel_for(g.batch * chunks, [&](int64_t task, int) {
    const int64_t bi = task / chunks;
    const int64_t j0 = (task % chunks) * chunk;
    run_skinny_chunk(g, kr, bi, j0, std::min(g.n, j0 + chunk));
  });
}

// Skinny kernels win once the streamed operand is big enough to amortise their setup; below that
// (8x8x8, say) packing is cheap and the blocked path is faster.
bool use_skinny(const GemmArgs& p) {
  if (p.packed_b != nullptr) return false;  // the panels are there: the blocked path reads them
  const double n_k = static_cast<double>(p.n) * p.k, m_k = static_cast<double>(p.m) * p.k;
  const bool few_rows = p.m <= kSkinnyRows && (p.m == 1 || n_k >= 1024);
  const bool few_cols = p.n <= kSkinnyRows && (p.n == 1 || m_k >= 1024);
  return few_rows || few_cols;
}

void run_skinny_for(const GemmArgs& p, const GemmKernels& kr) {
  SkinnyArgs g;
  g.k = p.k;
  g.batch = p.batch;
  g.alpha = p.alpha;
  g.beta = p.beta;
  g.serial = p.serial;
  g.epilogue = p.epilogue;
  if (p.m <= kSkinnyRows && (p.m <= p.n || p.n > kSkinnyRows)) {
    // Y = C (M x N), X = op(A), Op = op(B).
    g.rows = p.m;
    g.n = p.n;
    g.x = p.a;
    g.x_row_step = p.trans_a ? 1 : p.lda;
    g.x_k_step = p.trans_a ? p.lda : 1;
    g.x_batch_step = p.stride_a;
    g.mat = p.b;
    g.ld = p.ldb;
    g.mat_batch_step = p.stride_b;
    g.dots = p.trans_b;
    g.y = p.c;
    g.y_row_step = p.ldc;
    g.y_col_step = 1;
    g.y_batch_step = p.stride_c;
  } else {
    // Y = C^T (N x M), X = op(B)^T, Op = op(A)^T.
    g.rows = p.n;
    g.n = p.m;
    g.x = p.b;
    g.x_row_step = p.trans_b ? p.ldb : 1;
    g.x_k_step = p.trans_b ? 1 : p.ldb;
    g.x_batch_step = p.stride_b;
    g.mat = p.a;
    g.ld = p.lda;
    g.mat_batch_step = p.stride_a;
    g.dots = !p.trans_a;
    g.y = p.c;
    g.y_row_step = 1;
    g.y_col_step = p.ldc;
    g.y_batch_step = p.stride_c;
  }
  run_skinny(g, kr);
}

// ---------------------------------------------------------------------------------------------

void scale_c(const GemmArgs& p) {
  const float zero_product = p.alpha * 0.0f;  // alpha times an empty sum
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    float* c = p.c + bi * p.stride_c;
    for (int64_t i = 0; i < p.m; ++i) {
      float* row = c + i * p.ldc;
      for (int64_t j = 0; j < p.n; ++j) row[j] = p.beta != 0.0f ? zero_product + p.beta * row[j] : zero_product;
      if (p.epilogue != GemmEpilogue::kNone) apply_epilogue_f32(p.epilogue, row, p.ldc, 1, p.n);
    }
  }
}

void run_batches_in_parallel(const GemmArgs& p, const GemmKernels& kr) {
  if (use_skinny(p)) {
    run_skinny_for(p, kr);
  } else {
    run_blocked(p, kr);
  }
}

// The bias written into every row of C, for the paths that do not take it tile by tile: then
// C accumulates onto it (beta 1).
GemmArgs with_bias_rows(const GemmArgs& p) {
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    float* c = p.c + bi * p.stride_c;
    for (int64_t i = 0; i < p.m; ++i) std::copy_n(p.bias, p.n, c + i * p.ldc);
  }
  GemmArgs q = p;
  q.bias = nullptr;
  q.beta = 1.0f;
  return q;
}

}  // namespace

void gemm_f32(const GemmArgs& given) {
  if (given.m <= 0 || given.n <= 0 || given.batch <= 0) return;
  const GemmKernels& kr = kernels();
  const GemmArgs p = given.bias != nullptr && (given.k <= 0 || use_skinny(given)) ? with_bias_rows(given) : given;
  if (p.k <= 0) {
    scale_c(p);
    return;
  }
  const int64_t c_extent = (p.m - 1) * p.ldc + p.n;
  if (p.batch > 1 && p.stride_c < c_extent) {
    // C matrices of different batches overlap: run the batches one after another.
    GemmArgs one = p;
    one.batch = 1;
    for (int64_t bi = 0; bi < p.batch; ++bi) {
      one.a = p.a + bi * p.stride_a;
      one.b = p.b == nullptr ? nullptr : p.b + bi * p.stride_b;
      one.c = p.c + bi * p.stride_c;
      run_batches_in_parallel(one, kr);
    }
    return;
  }
  run_batches_in_parallel(p, kr);
}

int64_t gemm_packed_b_size(int64_t k, int64_t n) {
  const GemmKernels& kr = kernels();
  return k <= 0 || n <= 0 ? 0 : round_up(n, kr.nr) * k;
}

void gemm_pack_b(const float* b, int64_t ldb, bool trans_b, int64_t k, int64_t n, float* dst) {
  const GemmKernels& kr = kernels();
  if (k <= 0 || n <= 0) return;
  const int64_t n_padded = round_up(n, kr.nr);
  const int64_t blocks = ceil_div(k, kr.kc);
  // the layout run_blocked_tile reads: K block pc at pc * n_padded, its panels kc * nr apart
  const auto pack_block = [&](int64_t block, int) {
    const int64_t pc = block * kr.kc;
    const int64_t kc = std::min<int64_t>(kr.kc, k - pc);
    kr.pack_b(trans_b ? b + pc : b + pc * ldb, ldb, trans_b, kc, n, dst + pc * n_padded);
  };
  if (static_cast<double>(k) * n < kSerialFmas) {
    for (int64_t block = 0; block < blocks; ++block) pack_block(block, 0);
  } else {
    parallel_for(blocks, pack_block);
  }
}

const char* gemm_isa_name() { return kernels().name; }

}  // namespace strata
