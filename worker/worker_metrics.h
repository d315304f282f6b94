// What a worker serves on /metrics (loom-worker --http-listen): per-GPU figures the way DCGM
// exporter users expect them — one series per GPU, labelled gpu (index), node and model_name —
// under Loom's names: loom_gpu_utilization_ratio (DCGM_FI_DEV_GPU_UTIL / 100),
// loom_gpu_memory_total_bytes (DCGM_FI_DEV_FB_USED + FB_FREE), loom_gpu_peak_flops, and
// loom_gpu_emulated. Pure: the caller passes the node and the last heartbeat's busy fractions.
#pragma once

#include <vector>

#include "common/metrics/exposition.h"
#include "loom/v1/loom.pb.h"

namespace loom::worker {

// `busy[i]` is GPU i's busy fraction over the last heartbeat interval (empty: none sampled yet).
std::vector<metrics::Family> WorkerFamilies(const v1::Node& node, const std::vector<double>& busy,
                                            int running_jobs);

}  // namespace loom::worker
