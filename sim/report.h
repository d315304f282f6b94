// What a simulation run reports: the summary figures (docs/SIM.md defines them as
// docs/EFFICIENCY.md does for loomd), as text, as JSON (with every job) and as an HTML report
// with charts. Computing the summary is pure; the writers only format it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "sim/simulator.h"

namespace loom::sim {

struct Distribution {
  double mean = 0, p50 = 0, p95 = 0, p99 = 0;
  int count = 0;
};
Distribution Summarize(std::vector<double> values);

struct TenantSummary {
  int jobs = 0, completed = 0;
  double gpu_hours = 0;  // of its completed jobs, first start to end (requeues and losses included)
  double share = 0;      // of all tenants' GPU-hours
  Distribution jct_s, queue_s;
};

struct Summary {
  int jobs = 0, completed = 0, node_fail = 0, timeout = 0, refused = 0, unfinished = 0;
  Distribution jct_s, queue_s;
  double allocation = 0;     // GPU-s allocated / GPU-s up
  double goodput = 0;        // GPU-s of completed work / GPU-s allocated
  double cluster_mfu = 0;    // model FLOPs of completed work / peak FLOPs of UP GPUs
  double ettr = 0;           // completed jobs: work / (end − first start), GPU-weighted
  double fragmentation = 0;  // mean over samples of fragmented / UP GPUs
  double simulated_days = 0;
  int64_t failures = 0, events = 0, passes = 0;
  double wall_s = 0;
  std::map<std::string, double> lost_gpu_hours;  // by cause
  double checkpoint_gpu_hours = 0, restart_gpu_hours = 0;
  std::map<std::string, TenantSummary> tenants;
};

Summary Summarize(const SimResult& r);

std::string SummaryText(const Summary& s);
nlohmann::json SummaryJson(const Summary& s);
// The summary, every job's id, arrival_s, start_s, end_s, attempts and state, and the samples
// over time (GPUs up, allocated and fragmented; pending and running jobs).
nlohmann::json RunJson(const Summary& s, const SimResult& r);
// An HTML page with the summary and charts (utilization and queue over time, JCT CDF, tenants'
// shares). Fails (changing nothing) when the chart tool is missing.
Status WriteHtmlReport(const std::string& path, const std::string& title, const Summary& s,
                       const SimResult& r);

}  // namespace loom::sim
