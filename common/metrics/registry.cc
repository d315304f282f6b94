#include "common/metrics/registry.h"

#include <algorithm>

namespace loom::metrics {
namespace {

Labels Zip(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  Labels out;
  for (size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i], values[i]);
  return out;
}

}  // namespace

void CounterFamily::Inc(const std::vector<std::string>& values, double by) {
  if (values.size() != label_names_.size() || by < 0) return;
  std::lock_guard lock(mu_);
  values_[values] += by;
}

Family CounterFamily::Collect() const {
  Family f{name_, help_, Type::kCounter, {}, {}};
  std::lock_guard lock(mu_);
  for (const auto& [values, v] : values_) f.samples.push_back({Zip(label_names_, values), v});
  return f;
}

void HistogramFamily::Observe(const std::vector<std::string>& values, double v) {
  if (values.size() != label_names_.size()) return;
  std::lock_guard lock(mu_);
  HistogramSample& h = values_[values];
  if (h.bounds.empty()) {
    h.labels = Zip(label_names_, values);
    h.bounds = bounds_;
    h.counts.assign(bounds_.size(), 0);
  }
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v: le is inclusive
  if (it != bounds_.end()) ++h.counts[static_cast<size_t>(it - bounds_.begin())];
  h.sum += v;
  ++h.count;
}

Family HistogramFamily::Collect() const {
  Family f{name_, help_, Type::kHistogram, {}, {}};
  std::lock_guard lock(mu_);
  for (const auto& [values, h] : values_) f.histograms.push_back(h);
  return f;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

CounterFamily& Registry::Counter(const std::string& name, const std::string& help,
                                 const std::vector<std::string>& label_names) {
  std::lock_guard lock(mu_);
  auto it = counters_.find(name);
  if (it == counters_.end() && !histograms_.count(name)) {
    it = counters_.emplace(name, std::unique_ptr<CounterFamily>(new CounterFamily(name, help, label_names))).first;
  }
  if (it == counters_.end() || it->second->label_names_ != label_names) {
    misuse_.Inc({name});
    // Never collected; never destroyed, as call sites may run during exit.
    static CounterFamily* sink = new CounterFamily("loom_metrics_ignored_total", "", {});
    return *sink;
  }
  return *it->second;
}

HistogramFamily& Registry::Histogram(const std::string& name, const std::string& help,
                                     const std::vector<std::string>& label_names,
                                     const std::vector<double>& bounds) {
  std::lock_guard lock(mu_);
  auto it = histograms_.find(name);
  bool sorted = std::is_sorted(bounds.begin(), bounds.end());
  if (it == histograms_.end() && sorted && !counters_.count(name)) {
    it = histograms_.emplace(name, std::unique_ptr<HistogramFamily>(new HistogramFamily(name, help, label_names, bounds))).first;
  }
  if (it == histograms_.end() || it->second->label_names_ != label_names || it->second->bounds_ != bounds) {
    misuse_.Inc({name});
    static HistogramFamily* sink = new HistogramFamily("loom_metrics_ignored_seconds", "", {}, {});
    return *sink;
  }
  return *it->second;
}

std::vector<Family> Registry::Collect() const {
  std::vector<Family> out;
  std::lock_guard lock(mu_);
  auto c = counters_.begin();
  auto h = histograms_.begin();
  while (c != counters_.end() || h != histograms_.end()) {
    if (h == histograms_.end() || (c != counters_.end() && c->first < h->first)) {
      out.push_back((c++)->second->Collect());
    } else {
      out.push_back((h++)->second->Collect());
    }
  }
  Family misuse = misuse_.Collect();
  if (!misuse.samples.empty()) out.push_back(std::move(misuse));
  return out;
}

Registry& Registry::Global() {
  static Registry* registry = new Registry;  // never destroyed: threads may count during exit
  return *registry;
}

}  // namespace loom::metrics
