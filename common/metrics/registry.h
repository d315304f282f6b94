// Registry: the process's own counters and histograms (RPCs, scheduling passes, preemptions),
// kept as they happen, beside the gauges loomd and workers derive from their state at scrape
// time. A call site is one line:
//   metrics::Counter("loom_preemptions_total", "Jobs preempted, by cause", {"cause"}).Inc({"qos"});
// The first call with a name creates its family; later calls with the same name get the same one
// (their label names and bounds must match the first, else the call is a no-op that is
// counted in loom_metrics_misuse_total). Thread-safe; Collect takes a consistent copy per family.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/metrics/exposition.h"

namespace loom::metrics {

class CounterFamily {
 public:
  // `values` in the order of the family's label names; a wrong count is ignored.
  void Inc(const std::vector<std::string>& values, double by = 1);

 private:
  friend class Registry;
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}
  Family Collect() const;

  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, double> values_;  // GUARDED_BY(mu_)
};

class HistogramFamily {
 public:
  void Observe(const std::vector<std::string>& values, double v);

 private:
  friend class Registry;
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  Family Collect() const;

  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, HistogramSample> values_;  // GUARDED_BY(mu_)
};

// Buckets for durations from 100 us to 10 s, in seconds.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  CounterFamily& Counter(const std::string& name, const std::string& help,
                         const std::vector<std::string>& label_names);
  HistogramFamily& Histogram(const std::string& name, const std::string& help,
                             const std::vector<std::string>& label_names,
                             const std::vector<double>& bounds = LatencyBuckets());
  // Every family, sorted by name.
  std::vector<Family> Collect() const;

  // The process's registry, for one-line call sites.
  static Registry& Global();

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<CounterFamily>> counters_;      // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<HistogramFamily>> histograms_;  // GUARDED_BY(mu_)
  CounterFamily misuse_{"loom_metrics_misuse_total", "Metric calls ignored: a name reused with other labels or type",
                        {"name"}};
};

inline CounterFamily& Counter(const std::string& name, const std::string& help,
                              const std::vector<std::string>& label_names) {
  return Registry::Global().Counter(name, help, label_names);
}
inline HistogramFamily& Histogram(const std::string& name, const std::string& help,
                                  const std::vector<std::string>& label_names,
                                  const std::vector<double>& bounds = LatencyBuckets()) {
  return Registry::Global().Histogram(name, help, label_names, bounds);
}

}  // namespace loom::metrics
