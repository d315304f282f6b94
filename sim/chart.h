// Charts for loom-sim's HTML report, drawn by one kept tool behind one function: gnuplot (Debian's
// gnuplot-nox) writes SVG, which the page embeds. When the web dashboard's chart library lands,
// only RenderChart changes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace loom::sim {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

struct ChartSpec {
  std::string title, x_label, y_label;
  enum class Kind { kLines, kSteps, kBars } kind = Kind::kLines;
  std::vector<ChartSeries> series;
  std::vector<std::string> bar_labels;  // for kBars: one label per point of the first series
};

// The chart as an SVG document; UNAVAILABLE when gnuplot is missing or fails.
StatusOr<std::string> RenderChart(const ChartSpec& spec);

}  // namespace loom::sim
