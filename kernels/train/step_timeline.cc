#include "kernels/train/step_timeline.h"

#include <algorithm>

namespace loom::train {
namespace {

double Length(const std::vector<Interval>& disjoint) {
  double total = 0;
  for (const Interval& i : disjoint) total += i.end - i.begin;
  return total;
}

// Length of a ∩ b for sorted, disjoint a and b: one merge pass.
double OverlapLength(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  double total = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const double lo = std::max(a[i].begin, b[j].begin);
    const double hi = std::min(a[i].end, b[j].end);
    if (hi > lo) total += hi - lo;
    (a[i].end < b[j].end) ? ++i : ++j;
  }
  return total;
}

}  // namespace

std::vector<Interval> UnionOf(std::vector<Interval> v) {
  std::erase_if(v, [](const Interval& i) { return !(i.end > i.begin); });
  std::sort(v.begin(), v.end(), [](const Interval& x, const Interval& y) { return x.begin < y.begin; });
  std::vector<Interval> out;
  for (const Interval& i : v) {
    if (!out.empty() && i.begin <= out.back().end) {
      out.back().end = std::max(out.back().end, i.end);
    } else {
      out.push_back(i);
    }
  }
  return out;
}

TimelineFigures AccountTimeline(std::vector<Interval> compute, std::vector<Interval> comm) {
  const std::vector<Interval> cu = UnionOf(std::move(compute));
  const std::vector<Interval> co = UnionOf(std::move(comm));
  TimelineFigures f;
  f.compute_s = Length(cu);
  f.comm_s = Length(co);
  f.exposed_comm_s = f.comm_s - OverlapLength(cu, co);
  if (!co.empty()) f.comm_span_s = co.back().end - co.front().begin;
  return f;
}

}  // namespace loom::train
