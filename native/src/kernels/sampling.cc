// Drawing the next token from one row of logits: softmax at a temperature, the top-k, top-p and
// min-p filters, and the draw itself. The arithmetic is the reference backend's
// (src/backend/sample.ts), step for step, so both pick the same token for the same uniform draw;
// the only freedom taken is the order in which top-p sums the head of the distribution (a
// selection by mass instead of a full sort), which moves that sum by rounding only.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels.h"

namespace strata {
namespace {

// A row of probabilities and a copy the filters reorder, kept per thread: sampling runs once a
// token on a vocabulary-sized row, and fresh buffers each time would be a row of garbage a token.
struct Scratch {
  std::vector<float> probs;
  std::vector<float> work;
};

Scratch& scratch(int64_t n) {
  thread_local Scratch s;
  if (static_cast<int64_t>(s.probs.size()) < n) {
    s.probs.resize(n);
    s.work.resize(n);
  }
  return s;
}

// The value at which the running sum of a's values, taken largest first, first reaches top_p: the
// top-p filter's cut-off. a is reordered. Returns 0 (no cut-off) when the whole mass falls short
// of top_p, which rounding allows for top_p close to 1.
double top_p_cutoff(float* a, int64_t n, double top_p) {
  double above = 0;  // mass of the values known to be larger than everything in a[lo, hi)
  int64_t lo = 0, hi = n;
  while (hi - lo > 32) {
    // median of three as pivot; three-way partition into [> p | == p | < p]
    float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
    const float p = std::max(std::min(x, y), std::min(std::max(x, y), z));
    int64_t gt = lo, i = lo, lt = hi;
    while (i < lt) {
      if (a[i] > p) std::swap(a[gt++], a[i++]);
      else if (a[i] < p) std::swap(a[i], a[--lt]);
      else i++;
    }
    double greater = 0, equal = 0;
    for (int64_t j = lo; j < gt; j++) greater += a[j];
    for (int64_t j = gt; j < lt; j++) equal += a[j];
    if (above + greater >= top_p) {
      hi = gt;
    } else if (above + greater + equal >= top_p) {
      return p;
    } else {
      above += greater + equal;
      lo = lt;
    }
  }
  std::sort(a + lo, a + hi, [](float u, float v) { return u > v; });
  for (int64_t j = lo; j < hi; j++) {
    above += a[j];
    if (above >= top_p) return a[j];
  }
  return 0;
}

int64_t first_max(const float* x, int64_t n) {
  int64_t best = 0;
  float bv = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; i++)
    if (x[i] > bv) bv = x[i], best = i;
  return best;
}

}  // namespace

int64_t sample_f32(const float* logits, int64_t n, double temperature, int64_t top_k, double top_p, double min_p,
                   double uniform) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; i++)
    if (logits[i] > m) m = logits[i];
  // no finite largest logit: nothing to normalize, take the first largest (as greedy would)
  if (!std::isfinite(m)) return first_max(logits, n);
  Scratch& s = scratch(n);
  float* probs = s.probs.data();
  double total = 0;
  for (int64_t i = 0; i < n; i++) {
    const double l = logits[i];
    const double e = l != l ? 0.0 : std::exp((l - static_cast<double>(m)) / temperature);  // NaN: never drawn
    probs[i] = static_cast<float>(e);
    total += e;
  }
  float pmax = 0;
  for (int64_t i = 0; i < n; i++) {
    probs[i] = static_cast<float>(static_cast<double>(probs[i]) / total);
    if (probs[i] > pmax) pmax = probs[i];
  }
  // the probability below which a token is dropped, from each filter
  double cutoff = 0;
  const bool use_k = top_k > 0 && top_k < n;
  if (use_k) {
    float* w = s.work.data();
    std::copy(probs, probs + n, w);
    std::nth_element(w, w + (top_k - 1), w + n, [](float u, float v) { return u > v; });
    cutoff = std::max(cutoff, static_cast<double>(w[top_k - 1]));
  }
  if (top_p < 1) {
    float* w = s.work.data();
    std::copy(probs, probs + n, w);
    cutoff = std::max(cutoff, top_p_cutoff(w, n, top_p));
  }
  if (min_p > 0) cutoff = std::max(cutoff, min_p * static_cast<double>(pmax));
  // top-k keeps exactly k tokens: among ties at the cut-off, the lowest ids
  int64_t tie_budget = std::numeric_limits<int64_t>::max();
  if (use_k) {
    int64_t above = 0;
    for (int64_t i = 0; i < n; i++) above += static_cast<double>(probs[i]) > cutoff;
    tie_budget = std::max<int64_t>(top_k - above, 0);
  }
  // mark the dropped tokens with -1 and sum what is kept, in index order
  double kept = 0;
  for (int64_t i = 0; i < n; i++) {
    const double p = probs[i];
    if (p < cutoff || (p == cutoff && tie_budget-- <= 0)) {
      probs[i] = -1;
      continue;
    }
    kept += p;
  }
  double u = uniform * kept;
  int64_t last = -1;
  for (int64_t i = 0; i < n; i++) {
    if (probs[i] < 0) continue;
    last = i;
    u -= probs[i];
    if (u < 0) return i;
  }
  return last >= 0 ? last : first_max(logits, n);
}

}  // namespace strata
