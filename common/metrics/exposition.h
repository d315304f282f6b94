// Prometheus' text exposition format (version 0.0.4), as a pure function of metric families.
// Conventions (prometheus.io/docs/practices/naming): a `loom_` prefix, base units in the name
// (`_seconds`, `_bytes`, `_ratio`), `_total` on counters, and labels, not names, for what varies
// (node, gpu, tenant, state). Render checks names and label names and escapes label values; it
// does no I/O and keeps no state.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace loom::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { kGauge, kCounter, kHistogram };

struct Sample {
  Labels labels;
  double value = 0;
};

// One labelled histogram: `counts[i]` observations fell at or below `bounds[i]` and above the
// bound before it (not cumulative); observations above the last bound count only in `count`.
struct HistogramSample {
  Labels labels;
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;
};

struct Family {
  std::string name;
  std::string help;
  Type type = Type::kGauge;
  std::vector<Sample> samples;               // gauges and counters
  std::vector<HistogramSample> histograms;   // histograms
};

// [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without ':' and not starting with "__".
bool ValidMetricName(const std::string& name);
bool ValidLabelName(const std::string& name);

// A sample value as Prometheus writes it: integers without exponent, +Inf, -Inf, NaN.
std::string FormatValue(double v);

// The exposition of `families`, in their order. A family with an invalid name, label name or
// (for a counter) a name not ending in `_total` is left out with a comment line saying why, so
// one bad metric cannot break a scrape.
std::string Render(const std::vector<Family>& families);

// Builders that keep call sites to one line. The reference is valid until the next AddFamily.
Family& AddFamily(std::vector<Family>& out, std::string name, std::string help, Type type);
inline void Add(Family& f, Labels labels, double value) { f.samples.push_back({std::move(labels), value}); }

}  // namespace loom::metrics
