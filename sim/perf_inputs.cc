#include "sim/perf_inputs.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/gpu_models.h"

namespace loom::sim {
namespace {

// Sustained bf16 GEMM in a training step on an H100 SXM at 700 W (~600 TFLOP/s): below the
// 700-750 TFLOP/s of isolated square GEMMs, as TP-8 shapes and power capping cost clocks.
constexpr double kDefaultGemmEfficiency = 0.60;
// FlashAttention-2's forward + backward on H100, about 35% of peak at head dim 128.
constexpr double kDefaultAttentionEfficiency = 0.35;

StatusOr<nlohmann::json> ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(path + ": not JSON (" + e.what() + ")");
  }
}

}  // namespace

StatusOr<GpuPerf> PerfInputs::Gpu(const std::string& model) const {
  auto it = gpus.find(model);
  if (it != gpus.end()) return it->second;
  std::string known;
  for (const auto& [name, g] : gpus) known += (known.empty() ? "" : ", ") + name;
  return NotFound("no performance figures for GPU model '" + model + "' (known: " + known + ")");
}

PerfInputs DefaultPerfInputs() {
  PerfInputs in;
  for (const GpuModel& m : GpuModels()) {
    in.gpus[std::string(m.name)] = {std::string(m.name), m.bf16_dense_tflops,
                                    kDefaultGemmEfficiency, kDefaultAttentionEfficiency};
  }
  // NCCL on 8 H100 SXM: ~480 GB/s all-reduce bus bandwidth with NVLink SHARP (NVLS); one
  // 400 Gb/s NIC per GPU gives 46-48 GB/s across nodes. α: NCCL's small-message latencies.
  in.links.nvlink = {10e-6, 480};
  in.links.leaf = {20e-6, 46};
  in.links.spine = {30e-6, 46};
  return in;
}

Status ApplyGemmJson(const std::string& path, PerfInputs* inputs) {
  LOOM_ASSIGN_OR_RETURN(nlohmann::json rows, ReadJson(path));
  if (!rows.is_array() || rows.empty()) return InvalidArgument(path + ": expected loom-bench gemm --json's array of rows");
  std::map<std::string, std::vector<double>> shares;  // by model
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.is_object() || !r.contains("device") || !r["device"].is_string()) {
      return InvalidArgument(path + ": row " + std::to_string(i + 1) +
                             ": no device (a CPU run does not describe a GPU)");
    }
    const loom::GpuModel* model = GpuModelForDevice(r["device"].get<std::string>());
    if (!model) return InvalidArgument(path + ": row " + std::to_string(i + 1) + ": unknown GPU '" + r["device"].get<std::string>() + "'");
    double best = 0;
    for (const char* key : {"pct_of_peak", "cublas_pct_of_peak"}) {
      if (r.contains(key) && r[key].is_number()) best = std::max(best, r[key].get<double>());
    }
    if (best <= 0 || best > 100) return InvalidArgument(path + ": row " + std::to_string(i + 1) + ": no share of peak in (0, 100]");
    shares[std::string(model->name)].push_back(best / 100.0);
  }
  for (auto& [model, v] : shares) {
    std::sort(v.begin(), v.end());
    inputs->gpus[model].gemm_efficiency = v[v.size() / 2];
  }
  return Status::Ok();
}

Status ApplyCollFit(const std::string& path, LinkLevel level, PerfInputs* inputs) {
  LOOM_ASSIGN_OR_RETURN(nlohmann::json doc, ReadJson(path));
  if (!doc.is_object() || !doc.contains("fits") || !doc["fits"].is_array()) {
    return InvalidArgument(path + ": expected loom-bench coll --fit's object with \"fits\"");
  }
  for (const auto& f : doc["fits"]) {
    if (!f.is_object() || f.value("collective", "") != "all_reduce") continue;
    const double bw = f.value("bus_bandwidth_GBps", 0.0);
    const double alpha_us = f.value("alpha_us", 0.0);
    if (bw <= 0) return InvalidArgument(path + ": the all_reduce fit has no positive bus_bandwidth_GBps");
    AlphaBeta& link = level == LinkLevel::kNvlink ? inputs->links.nvlink
                      : level == LinkLevel::kLeaf ? inputs->links.leaf
                                                  : inputs->links.spine;
    link = {std::max(0.0, alpha_us) * 1e-6, bw};
    return Status::Ok();
  }
  return InvalidArgument(path + ": no all_reduce fit");
}

StatusOr<LinkLevel> ParseLinkLevel(const std::string& name) {
  if (name == "nvlink") return LinkLevel::kNvlink;
  if (name == "leaf") return LinkLevel::kLeaf;
  if (name == "spine") return LinkLevel::kSpine;
  return InvalidArgument("unknown link level '" + name + "' (known: nvlink, leaf, spine)");
}

}  // namespace loom::sim
