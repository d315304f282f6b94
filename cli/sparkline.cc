#include "cli/sparkline.h"

#include <algorithm>
#include <cmath>

namespace loom::cli {

std::string Sparkline(const std::vector<double>& values, double top) {
  static const char* const kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (top <= 0) {
    for (double v : values) top = std::max(top, v);
  }
  std::string out;
  for (double v : values) {
    const double share = top > 0 ? std::clamp(v / top, 0.0, 1.0) : 0.0;
    out += kBlocks[static_cast<int>(std::lround(share * 7))];
  }
  return out;
}

}  // namespace loom::cli
