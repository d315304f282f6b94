// What loomd exposes on /metrics, derived at scrape time from its state (the nodes, the jobs in
// memory and the efficiency figures of GetStats), beside the Registry's counters and histograms.
// Pure: the caller reads the state through ControlPlane's public methods and passes it in.
// Every family is listed, with its labels and meaning, in docs/OBSERVABILITY.md.
#pragma once

#include <cstdint>
#include <vector>

#include "common/metrics/exposition.h"
#include "loom/v1/loom.pb.h"

namespace loom::http {

// The window of the efficiency figures (loom_cluster_*, loom_tenant_*) loomd exposes.
inline constexpr int64_t kMetricsWindowMs = 3600 * 1000;

std::vector<metrics::Family> LoomdFamilies(const std::vector<v1::Node>& nodes,
                                           const std::vector<v1::Job>& jobs, const v1::Stats& stats);

// A training job's figures over its current run's reported steps; steps == 0 when none.
struct RunFigures {
  int64_t steps = 0;
  double mfu = 0;                // model FLOPs / (peak FLOP/s of its GPUs x step time)
  double step_s = 0;             // mean step time
  double exposed_comm_s = 0;     // mean exposed communication per step
};
RunFigures FiguresOf(const v1::Job& job);

}  // namespace loom::http
