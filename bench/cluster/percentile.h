// The percentile the cluster benchmarks report: nearest rank, p in [0, 1]; 0 for no samples.
#pragma once

#include <algorithm>
#include <vector>

namespace loom::bench {

inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace loom::bench
