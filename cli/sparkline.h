// A one-line chart of a series with the eight block characters, as `loom show` prints a job's MFU
// over time. Pure, so it is tested without a server.
#pragma once

#include <string>
#include <vector>

namespace loom::cli {

// One character per value, from ▁ (0) to █ (`top`); values are clamped to [0, top]. `top` <= 0
// scales to the largest value. Empty for an empty series.
std::string Sparkline(const std::vector<double>& values, double top = 0);

}  // namespace loom::cli
