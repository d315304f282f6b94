// `loom-sim frontier`: the documents' question — one frontier pre-training run on each cluster.
// For each cluster: the GPUs the run uses (whole TP × PP replicas, DP as large as the cluster
// allows, leaving a share of nodes spare for failures, and at most one replica per sequence of the
// batch), its layout and step time from the performance model, its failures per day, its
// Young/Daly checkpoint interval, and its ETTR, days to train and GPU-hours by Monte Carlo: the run
// goes through the simulator's event loop as one job, with the failure model's failures.
#pragma once

#include <string>

#include "common/status.h"
#include "scheduler/config/cluster_config.h"
#include "sim/failure_model.h"
#include "sim/perf_inputs.h"
#include "sim/perf_model.h"

namespace loom::sim {

struct FrontierInputs {
  std::string model = "405B";
  double tokens = 15e12;
  double batch_tokens = 16.0 * 1024 * 1024;  // Llama 3 405B: 16M tokens a step
  int tp = 8, pp = 16;
  double spare_share = 0.02;          // of the cluster's nodes kept out of the run, for failures
  double storage_gbytes_per_s = 2000; // checkpoint write bandwidth (Llama 3's Tectonic, sustained)
  FailureModel failures = DefaultFailureModel();
  PerfInputs perf = DefaultPerfInputs();
  uint64_t seed = 1;
};

struct FrontierRow {
  std::string cluster;
  int cluster_gpus = 0, gpus = 0;
  Layout layout;
  StepEstimate step;
  double interruptions_per_day = 0;
  double checkpoint_interval_s = 0, checkpoint_write_s = 0;
  double ettr = 0;  // Monte Carlo through the simulator
  double ettr_closed_form = 0;  // the failure model's exact renewal value (RenewalEttr), for comparison
  double days = 0, gpu_hours = 0;
  int failures = 0;  // that hit the run in the Monte Carlo
};

StatusOr<FrontierRow> Frontier(const sched::ClusterConfig& cluster, const FrontierInputs& in);

}  // namespace loom::sim
