// The performance model's inputs: documented defaults (docs/SIM.md names each one's source), or
// what loom-bench measured — `loom-bench gemm --json` for a GPU's GEMM efficiency and
// `loom-bench coll --fit` for a link level's α and bus bandwidth.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "sim/perf_model.h"

namespace loom::sim {

struct PerfInputs {
  std::map<std::string, GpuPerf> gpus;  // by GPU model name (common/gpu_models.h)
  Links links;
  int virtual_stages = 8;  // interleaved 1F1B chunks per pipeline rank, when a layout has PP > 1

  // NOT_FOUND naming the known models.
  StatusOr<GpuPerf> Gpu(const std::string& model) const;
};

// Every model of common/gpu_models.h at its vendor peak, with the default efficiencies, and the
// default links (published NCCL figures).
PerfInputs DefaultPerfInputs();

// Applies a `loom-bench gemm --json` file: the median over its rows of the best backend's share
// of peak becomes the GEMM efficiency of the row's device. Errors name the file.
Status ApplyGemmJson(const std::string& path, PerfInputs* inputs);
// Applies a `loom-bench coll --fit` file to one link level: its all-reduce fit's α and bus
// bandwidth. Errors name the file.
Status ApplyCollFit(const std::string& path, LinkLevel level, PerfInputs* inputs);
// "nvlink", "leaf" or "spine".
StatusOr<LinkLevel> ParseLinkLevel(const std::string& name);

}  // namespace loom::sim
