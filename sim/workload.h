// Workloads for loom-sim: a trace CSV (one job a row) or a synthetic generator (YAML). Parsing is
// pure apart from reading the one file; every error is one line naming the file and the line or
// key ("day1.csv: line 7: gpus: 'x' is not a positive integer").
//
// Trace CSV: a header row naming the columns, in any order, then one job a row. Fields are plain
// (no quoting; names and tenants may not contain commas). Required: arrival_s, gpus, and either
// duration_s (the job's run time on its own) or model + steps (a kernels/train preset; the step
// time comes from the performance model). Optional: id, name, tenant, priority, qos,
// time_limit_s, gpus_per_node. Empty optional fields take their defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace loom::sim {

struct SimJob {
  int64_t id = 0;  // unique; the trace's, or its row number
  std::string name;
  std::string tenant;
  double arrival_s = 0;
  int gpus = 0;
  int gpus_per_node = 0;  // 0: the scheduler's default
  int priority = 0;
  int qos = 0;
  double time_limit_s = 0;  // 0: none
  double duration_s = 0;    // run time without failures; 0 when model + steps give it
  std::string model;        // a kernels/train preset
  int64_t steps = 0;        // 0 with a model and a duration: the steps that fit in the duration
};

StatusOr<std::vector<SimJob>> ParseTraceCsv(const std::string& text, const std::string& source);
StatusOr<std::vector<SimJob>> LoadTrace(const std::string& path);

// The synthetic generator's YAML (every key optional; durations as "2m", "3d"):
//   jobs: 1000                         # how many
//   arrival_rate_per_hour: 60          # Poisson arrivals
//   sizes: {1: 0.7, 2: 0.1, 4: 0.15, 8: 0.05}   # GPUs: probability (Philly-like default)
//   duration: {min: 2m, max: 2d}       # log-uniform
//   tenants: {research: 3, product: 1} # name: weight (share of the jobs)
//   large: {share: 0.01, gpus: [256, 1024], duration: {min: 6h, max: 3d}, model: 70B}
//                                      # large training jobs; with a model, their model FLOPs count
//                                      # (steps of the performance model's step time that fit)
//   time_limit_factor: 2               # time limit = duration × this; 0: no limits
struct Range {
  double min_s = 0, max_s = 0;
};
struct SyntheticSpec {
  int jobs = 1000;
  double arrival_rate_per_hour = 60;
  std::vector<std::pair<int, double>> sizes = {{1, 0.7}, {2, 0.1}, {4, 0.15}, {8, 0.05}};
  Range duration = {120, 2 * 86400.0};
  std::vector<std::pair<std::string, double>> tenants = {{"default", 1}};
  double large_share = 0;
  std::vector<int> large_gpus;
  Range large_duration = {6 * 3600.0, 3 * 86400.0};
  std::string large_model;  // a kernels/train preset, or empty
  double time_limit_factor = 2;
};

StatusOr<SyntheticSpec> ParseSyntheticSpec(const std::string& yaml, const std::string& source);
StatusOr<SyntheticSpec> LoadSyntheticSpec(const std::string& path);
// The same spec and seed give the same jobs, ordered by arrival.
std::vector<SimJob> Generate(const SyntheticSpec& spec, uint64_t seed);

}  // namespace loom::sim
