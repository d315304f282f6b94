// Charts for loom-sim's HTML report, drawn by the web dashboard's chart library: uPlot, pinned
// by web/package-lock.json and embedded into the build (web_assets), so the report is one file
// that works with no network. The page carries the library once and each chart's data.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace loom::sim {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

struct ChartSpec {
  std::string title, x_label, y_label;
  enum class Kind { kLines, kSteps, kBars } kind = Kind::kLines;
  // Series share the first one's x values (one y per point of the first series).
  std::vector<ChartSeries> series;
  std::vector<std::string> bar_labels;  // for kBars: one label per point of the first series
};

// uPlot's stylesheet and script, for the page's <head>.
std::string ChartLibrary();
// A <div> and the script that draws `spec` into it; `id` is unique on the page.
std::string RenderChart(const ChartSpec& spec, const std::string& id);

}  // namespace loom::sim
