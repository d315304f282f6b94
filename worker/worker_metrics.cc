#include "worker/worker_metrics.h"

#include <string>

namespace loom::worker {

std::vector<metrics::Family> WorkerFamilies(const v1::Node& node, const std::vector<double>& busy,
                                            int running_jobs) {
  using metrics::Add;
  using metrics::AddFamily;
  using metrics::Type;
  std::vector<metrics::Family> out;
  auto labels = [&](const v1::Gpu& g) {
    return metrics::Labels{{"node", node.name()}, {"gpu", std::to_string(g.index())}, {"model_name", g.model()}};
  };
  metrics::Family& util = AddFamily(out, "loom_gpu_utilization_ratio",
      "Busy fraction of the GPU over the last heartbeat interval (NVML, or the ranks' CPU time when emulated)",
      Type::kGauge);
  for (const v1::Gpu& g : node.gpus()) {
    size_t i = static_cast<size_t>(g.index());
    if (i < busy.size()) Add(util, labels(g), busy[i]);
  }
  metrics::Family& mem = AddFamily(out, "loom_gpu_memory_total_bytes", "GPU memory", Type::kGauge);
  for (const v1::Gpu& g : node.gpus()) Add(mem, labels(g), static_cast<double>(g.memory_bytes()));
  metrics::Family& peak = AddFamily(out, "loom_gpu_peak_flops", "Dense bf16 peak MFU is measured against, FLOP/s",
                                    Type::kGauge);
  for (const v1::Gpu& g : node.gpus()) Add(peak, labels(g), g.peak_tflops() * 1e12);
  metrics::Family& emu = AddFamily(out, "loom_gpu_emulated", "1 for a CPU-emulated GPU", Type::kGauge);
  for (const v1::Gpu& g : node.gpus()) Add(emu, labels(g), g.emulated() ? 1 : 0);
  Add(AddFamily(out, "loom_worker_jobs_running", "Jobs with ranks on this node", Type::kGauge),
      {{"node", node.name()}}, running_jobs);
  return out;
}

}  // namespace loom::worker
