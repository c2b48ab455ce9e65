// Drivers of the quantized and half-precision matmuls: choose the kernel table, quantize the
// activations once, then split the output over the shared pool (rows of W, and tiles of
// activation rows when there are many).
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "quant/quant.h"
#include "scratch.h"
#include "threadpool.h"

namespace strata::quant {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Below this many multiply-adds a call runs on the calling thread.
constexpr int64_t kSerialMacs = int64_t{1} << 18;
// Bytes of quantized activation rows one task keeps hot while it walks its rows of W.
constexpr int64_t kActTileBytes = int64_t{1} << 18;
// From this many activation rows on, the weights go through packed panels.
constexpr int64_t kPackedMinRows = 8;
// Bytes of weight rows a task walks past one group of activation rows.
constexpr int64_t kWeightBlockBytes = int64_t{1} << 16;
// How far ahead of the row being read decoding prefetches weight rows (see quant_matmul).
constexpr int64_t kPrefetchBytes = 4096;

inline void prefetch_bytes(const uint8_t* p, int64_t bytes) {
  for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(p + i, 0, 3);
}

thread_local ScratchBuffer tl_acts;
thread_local ScratchBuffer tl_panel;

// The quantized activations of M rows, carved out of one buffer.
struct ActBuffer {
  int64_t k = 0, blocks = 0;
  bool expanded = false, sums = false;
  int8_t* qs = nullptr;       // M*K
  float* d = nullptr;         // M*blocks
  float* d_exp = nullptr;     // M*blocks*8 (expanded)
  int32_t* corr = nullptr;    // M*blocks*8 (expanded)
  int16_t* sums16 = nullptr;  // M*K/16 (sums)

  // bytes of one row, for tiling
  int64_t row_bytes() const { return k + blocks * 4 + (expanded ? blocks * 64 : 0) + (sums ? k / 8 : 0); }

  ActRow row(int64_t i) const {
    return ActRow{qs + i * k, d + i * blocks, expanded ? d_exp + i * blocks * 8 : nullptr,
                  expanded ? corr + i * blocks * 8 : nullptr, sums ? sums16 + i * (k / 16) : nullptr};
  }
};

ActBuffer make_act_buffer(const QuantKernels& kr, const QTypeInfo& t, int64_t m, int64_t k) {
  ActBuffer a;
  a.k = k;
  a.blocks = k / t.act_block;
  a.expanded = kr.expanded32 && t.act_block == 32;
  a.sums = t.act_block == 256;
  // 4-byte arrays first, each 64-byte aligned, then the 2- and 1-byte ones
  auto up = [](int64_t n) { return (n + 15) / 16 * 16; };  // in 4-byte words
  const int64_t n_d = up(m * a.blocks), n_exp = a.expanded ? up(m * a.blocks * 8) : 0;
  const int64_t n_sums = a.sums ? up(m * (k / 16) / 2 + 1) : 0;
  const int64_t n_qs = up(m * k / 4 + 1);
  float* base = tl_acts.floats(static_cast<size_t>(n_d + 2 * n_exp + n_sums + n_qs));
  a.d = base;
  a.d_exp = base + n_d;
  a.corr = reinterpret_cast<int32_t*>(base + n_d + n_exp);
  a.sums16 = reinterpret_cast<int16_t*>(base + n_d + 2 * n_exp);
  a.qs = reinterpret_cast<int8_t*>(base + n_d + 2 * n_exp + n_sums);
  return a;
}

}  // namespace

const QuantKernels& quant_kernels() {
  static const QuantKernels* const table = [] {
#if defined(__x86_64__) || defined(__i386__)
    const Isa isa = active_isa();
    if (isa == Isa::kAvx512 && cpu_features().avx512vnni) return &kQuantAvx512Vnni;
    if (isa == Isa::kAvx512 || isa == Isa::kAvx2) {
      __builtin_cpu_init();
      if (__builtin_cpu_supports("f16c")) return &kQuantAvx2;
    }
#endif
    return &kQuantPortable;
  }();
  return *table;
}

void quant_matmul(const QTypeInfo& t, const uint8_t* w, int64_t ldw, const float* x, int64_t m,
                  int64_t n, int64_t k, float* y) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(y, y + m * n, 0.0f);
    return;
  }
  const QuantKernels& kr = quant_kernels();
  const ActBuffer acts = make_act_buffer(kr, t, m, k);
  const bool parallel = m * n * k >= kSerialMacs && thread_count() > 1;

  auto quantize = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) kr.quantize_row(t, x + i * k, k, acts.row(i));
  };
  if (parallel && m >= 8) {
    const int64_t per = ceil_div(m, thread_count() * 2);
    parallel_for(ceil_div(m, per), [&](int64_t task, int) { quantize(task * per, std::min(m, (task + 1) * per)); });
  } else {
    quantize(0, m);
  }

  // Many rows: packed panels of kPanelCols weight rows, one vector lane each.
  // (the gathers that pack a panel index 16 rows with 32-bit offsets)
  if (kr.pack_panel != nullptr && m >= kPackedMinRows && ldw < (int64_t{1} << 27)) {
    const int64_t panels = ceil_div(n, kPanelCols);
    auto run_panel = [&](int64_t p) {
      const int64_t j0 = p * kPanelCols, nc = std::min<int64_t>(kPanelCols, n - j0);
      uint8_t* panel = reinterpret_cast<uint8_t*>(tl_panel.floats(static_cast<size_t>(panel_bytes(t, k) / 4 + 16)));
      kr.pack_panel(t, w, ldw, j0, nc, k, panel);
      ActRow rows[kMaxRows];
      for (int64_t i = 0; i < m; i += kMaxRows) {
        const int nr = static_cast<int>(std::min<int64_t>(kMaxRows, m - i));
        for (int r = 0; r < nr; ++r) rows[r] = acts.row(i + r);
        kr.gemm_panel(t, panel, k, rows, nr, y + i * n + j0, n, nc);
      }
    };
    if (parallel && panels > 1) parallel_for(panels, [&](int64_t p, int) { run_panel(p); });
    else for (int64_t p = 0; p < panels; ++p) run_panel(p);
    return;
  }

  // Tiles: activation rows [i0, i1) that stay in L2 and weight rows [j0, j1) per task. Inside a
  // task, a group of kMaxRows activation rows stays in L1 while a block of weight rows (in L2)
  // passes by, so each weight byte is read from memory once per activation tile.
  const int64_t w_row_bytes = k / t.block_values * t.block_bytes;
  const int64_t m_tile = std::min(m, std::max<int64_t>(kMaxRows, (kActTileBytes / acts.row_bytes()) / kMaxRows * kMaxRows));
  const int64_t m_tiles = ceil_div(m, m_tile);
  const int64_t want_tasks = parallel ? int64_t{thread_count()} * 6 : 1;
  const int64_t n_chunk = std::clamp<int64_t>(ceil_div(n * m_tiles, want_tasks), 4, 512);
  const int64_t n_chunks = ceil_div(n, n_chunk);
  const int64_t j_block = std::max<int64_t>(1, kWeightBlockBytes / w_row_bytes);
  const DotFn dot = kr.dot[t.index];
  // A few activation rows against a stream of weights (decoding) is bound by how fast one core
  // pulls weights from memory, and the hardware prefetcher stops at each 4 KiB page (a weight row is
  // ~0.8-2 KB): fetch the row kPrefetchBytes ahead by hand. With many rows the weights are reused
  // from cache and this is left off.
  const int64_t prefetch_rows = m <= kMaxRows ? std::max<int64_t>(1, kPrefetchBytes / std::max<int64_t>(1, w_row_bytes)) : 0;

  auto run = [&](int64_t task) {
    const int64_t mt = task / n_chunks, nc = task % n_chunks;
    const int64_t i0 = mt * m_tile, i1 = std::min(m, i0 + m_tile);
    const int64_t j0 = nc * n_chunk, j1 = std::min(n, j0 + n_chunk);
    ActRow rows[kMaxRows];
    float res[kMaxRows];
    for (int64_t jb = j0; jb < j1; jb += j_block) {
      const int64_t jb1 = std::min(j1, jb + j_block);
      for (int64_t i = i0; i < i1; i += kMaxRows) {
        const int nr = static_cast<int>(std::min<int64_t>(kMaxRows, i1 - i));
        for (int r = 0; r < nr; ++r) rows[r] = acts.row(i + r);
        for (int64_t j = jb; j < jb1; ++j) {
          if (prefetch_rows > 0 && j + prefetch_rows < j1) prefetch_bytes(w + (j + prefetch_rows) * ldw, w_row_bytes);
          dot(w + j * ldw, k, rows, nr, res);
          for (int r = 0; r < nr; ++r) y[(i + r) * n + j] = res[r];
        }
      }
    }
  };
  const int64_t tasks = m_tiles * n_chunks;
  if (parallel && tasks > 1) {
    parallel_for(tasks, [&](int64_t task, int) { run(task); });
  } else {
    for (int64_t task = 0; task < tasks; ++task) run(task);
  }
}

void half_matmul(bool bf16, const uint16_t* w, int64_t ldw, const float* x, int64_t m, int64_t n,
                 int64_t k, float* y) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(y, y + m * n, 0.0f);
    return;
  }
  const QuantKernels& kr = quant_kernels();
  const bool parallel = m * n * k >= kSerialMacs && thread_count() > 1;
  if (m <= kMaxRows) {
    // decode: dot products converting the weights on the fly, one pass over W
    const int64_t chunk = std::max<int64_t>(4, ceil_div(n, parallel ? int64_t{thread_count()} * 6 : 1));
    const int64_t chunks = ceil_div(n, chunk);
    // one row at a time, each with the row kPrefetchBytes ahead prefetched (as quant_matmul does)
    const int64_t ahead = std::max<int64_t>(1, kPrefetchBytes / (2 * k));
    auto run = [&](int64_t c) {
      const int64_t j0 = c * chunk, j1 = std::min(n, j0 + chunk);
      for (int64_t j = j0; j < j1; ++j) {
        if (j + ahead < j1) prefetch_bytes(reinterpret_cast<const uint8_t*>(w + (j + ahead) * ldw), 2 * k);
        kr.half_dot(w + j * ldw, ldw, bf16, 1, k, x, k, static_cast<int>(m), y + j, n);
      }
    };
    if (parallel && chunks > 1) parallel_for(chunks, [&](int64_t c, int) { run(c); });
    else for (int64_t c = 0; c < chunks; ++c) run(c);
    return;
  }
  // prefill: convert a panel of W rows to f32, then the f32 GEMM on it (the nested call runs on
  // this task's thread); W is never converted whole
  const int64_t panel = std::clamp<int64_t>((int64_t{1} << 19) / k / 48 * 48, 48, 480);
  const int64_t panels = ceil_div(n, panel);
  auto run = [&](int64_t pi) {
    const int64_t j0 = pi * panel, j1 = std::min(n, j0 + panel);
    float* buf = tl_panel.floats(static_cast<size_t>((j1 - j0) * k));
    for (int64_t j = j0; j < j1; ++j) kr.half_to_float(w + j * ldw, k, bf16, buf + (j - j0) * k);
    GemmArgs g;
    g.a = x;
    g.lda = k;
    g.b = buf;
    g.ldb = k;
    g.trans_b = true;
    g.c = y + j0;
    g.ldc = n;
    g.m = m;
    g.n = j1 - j0;
    g.k = k;
    gemm_f32(g);
  };
  if (parallel && panels > 1) parallel_for(panels, [&](int64_t pi, int) { run(pi); });
  else for (int64_t pi = 0; pi < panels; ++pi) run(pi);
}

void dequantize_rows(const QTypeInfo& t, const uint8_t* w, int64_t ldw, int64_t k,
                     const int32_t* ids, int64_t count, float* out) {
  if (count == 0 || k == 0) return;
  const int64_t per = std::max<int64_t>(1, (int64_t{1} << 16) / k);
  const int64_t tasks = ceil_div(count, per);
  if (tasks > 1 && thread_count() > 1) {
    parallel_for(tasks, [&](int64_t task, int) {
      dequantize_rows_serial(t, w, ldw, k, ids, task * per, std::min(count, (task + 1) * per), out);
    });
  } else {
    dequantize_rows_serial(t, w, ldw, k, ids, 0, count, out);
  }
}

}  // namespace strata::quant
