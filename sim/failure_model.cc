#include "sim/failure_model.h"

#include <cmath>

#include "scheduler/config/yaml_fields.h"

namespace loom::sim {

using sched::config::Fields;

double FailureModel::IntervalFor(int nodes) const {
  if (checkpoint_interval_s > 0) return checkpoint_interval_s;
  const double rate = rate_per_node_day / 86400.0 * nodes;
  if (rate <= 0) return 1e18;  // no failures: never checkpoint
  return DalyInterval(checkpoint_write_s, 1.0 / rate);
}

FailureModel DefaultFailureModel() {
  FailureModel m;
  // Llama 3 (Dubey et al. 2024), Table 5: GPU-related (faulty GPU, HBM3, SRAM, GPU system
  // processor, thermal, silent data corruption) 58.7%; software bugs 12.9%; network switches,
  // cables and NICs 10.1%; host maintenance 7.6%; the rest 10.7%.
  m.causes = {{"gpu", 0.587}, {"software", 0.129}, {"network", 0.101}, {"host", 0.076},
              {"other", 0.107}};
  return m;
}

FailureModel NoFailures() {
  FailureModel m = DefaultFailureModel();
  m.rate_per_node_day = 0;
  return m;
}

double DalyInterval(double delta_s, double mtbf_s) {
  if (delta_s >= 2 * mtbf_s) return mtbf_s;
  const double x = delta_s / (2 * mtbf_s);
  return std::sqrt(2 * delta_s * mtbf_s) * (1 + std::sqrt(x) / 3 + x / 9) - delta_s;
}

double KokolisEttr(int nodes, double rate_per_node_s, double u0_s, double interval_s, double write_s) {
  return (1 - nodes * rate_per_node_s * (u0_s + interval_s / 2)) / (1 + write_s / interval_s);
}

double RenewalEttr(int nodes, double rate_per_node_s, double u0_s, double interval_s, double write_s) {
  const double lambda = nodes * rate_per_node_s;
  if (lambda <= 0) return interval_s / (interval_s + write_s);
  const double q = std::exp(-lambda * (interval_s + write_s));
  return lambda * std::exp(-lambda * u0_s) * interval_s * q / (1 - q);
}

StatusOr<FailureModel> ParseFailureModel(const std::string& yaml, const std::string& source) {
  LOOM_ASSIGN_OR_RETURN(YAML::Node root, sched::config::LoadYaml(yaml, source));
  FailureModel m = DefaultFailureModel();
  if (root.IsNull()) return m;
  Fields top(root, source, "");
  LOOM_RETURN_IF_ERROR(top.Check());
  double per_1000 = m.rate_per_node_day * 1000;
  LOOM_RETURN_IF_ERROR(top.NonNegative("rate_per_1000_node_days", &per_1000));
  m.rate_per_node_day = per_1000 / 1000;
  if (top.Has("causes")) {
    m.causes.clear();
    double sum = 0;
    const YAML::Node causes = top.Get("causes");
    if (!causes.IsMap() || causes.size() == 0) {
      return InvalidArgument(top.Where("causes") + ": expected a mapping of cause names to shares");
    }
    for (const auto& kv : causes) {
      LOOM_ASSIGN_OR_RETURN(const std::string name, sched::config::KeyOf(kv.first, top.Where("causes") + ": "));
      double share = 0;
      if (!kv.second.IsScalar() || !YAML::convert<double>::decode(kv.second, share) ||
          !std::isfinite(share) || share < 0) {
        return InvalidArgument(top.Where("causes." + name) + ": must be a share in [0, 1]");
      }
      m.causes.push_back({name, share});
      sum += share;
    }
    if (std::abs(sum - 1) > 0.01) {
      return InvalidArgument(top.Where("causes") + ": shares sum to " + std::to_string(sum) + ", not 1");
    }
  }
  // Durations in seconds, zero allowed ("detect: 0s" for an instant detection).
  auto seconds = [](Fields& f, const char* key, double* out) -> Status {
    int64_t ms = static_cast<int64_t>(*out * 1000);
    LOOM_RETURN_IF_ERROR(sched::config::ReadDuration(f, key, &ms, /*allow_zero=*/true));
    *out = ms / 1000.0;
    return Status::Ok();
  };
  LOOM_RETURN_IF_ERROR(seconds(top, "detect", &m.detect_s));
  LOOM_RETURN_IF_ERROR(seconds(top, "repair", &m.repair_s));
  LOOM_RETURN_IF_ERROR(seconds(top, "restart", &m.restart_s));
  LOOM_RETURN_IF_ERROR(top.NonNegative("max_requeues", &m.max_requeues));
  LOOM_RETURN_IF_ERROR(sched::config::ReadSection(top, "checkpoint", [&](Fields& f) {
    LOOM_RETURN_IF_ERROR(seconds(f, "write", &m.checkpoint_write_s));
    std::string text;
    LOOM_RETURN_IF_ERROR(f.Read("interval", &text, /*required=*/false));
    if (text.empty() || text == "daly") return Status::Ok();  // 0: Young/Daly
    int64_t interval_ms = 0;
    LOOM_RETURN_IF_ERROR(sched::config::ReadDuration(f, "interval", &interval_ms));
    m.checkpoint_interval_s = interval_ms / 1000.0;
    return Status::Ok();
  }));
  LOOM_RETURN_IF_ERROR(top.Finish());
  return m;
}

StatusOr<FailureModel> LoadFailureModel(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(auto text, sched::config::ReadConfigFile(path, "the failure model"));
  return ParseFailureModel(text.text, text.source);
}

}  // namespace loom::sim
