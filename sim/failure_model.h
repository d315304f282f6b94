// The failure model: node failures as a Poisson process per node (so a job on N nodes sees rate
// N·r), split by cause; the time until the failure is noticed (loomd's heartbeat timeout), the
// node's repair time, a restarted attempt's start-up cost, and checkpointing (a write cost, and an
// interval that is fixed or Young/Daly optimal for the job's own failure rate). A failed attempt
// loses the work since its last completed checkpoint. Defaults are Llama 3's (docs/SIM.md).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace loom::sim {

struct FailureCause {
  std::string name;
  double share = 0;  // of all failures; the shares sum to 1
};

struct FailureModel {
  // Llama 3 405B: 419 unexpected interruptions in 54 days on 2,048 nodes (16,384 GPUs).
  double rate_per_node_day = 419.0 / (54.0 * 2048.0);
  std::vector<FailureCause> causes;  // Llama 3's Table 5, grouped
  double detect_s = 5;               // loomd's node timeout (5 s without a heartbeat)
  double repair_s = 4 * 3600.0;      // a failed node is back after this
  double restart_s = 300;            // a requeued attempt's start-up before it does work (u0)
  double checkpoint_write_s = 30;    // the job stalls this long per checkpoint (w, Daly's δ)
  double checkpoint_interval_s = 0;  // of work between checkpoints; 0: Young/Daly optimal
  int max_requeues = 1000;           // attempts after the first, as the lifecycle caps them

  // Daly's optimum for a job on `nodes` nodes, or the fixed interval.
  double IntervalFor(int nodes) const;
};

FailureModel DefaultFailureModel();
// No failures at all (the rate is 0); the rest as the defaults.
FailureModel NoFailures();

// Daly (2006), the higher-order optimum checkpoint interval for write cost δ and MTBF M:
// sqrt(2δM)·[1 + sqrt(δ/2M)/3 + (δ/2M)/9] − δ when δ < 2M, else M.
double DalyInterval(double delta_s, double mtbf_s);
// Kokolis et al. (HPCA'25): E[ETTR] ≈ (1 − N·r·(u0 + Δt/2)) / (1 + w/Δt) for a job on N nodes
// that fail at r per node-second, restart cost u0, checkpoint interval Δt and write cost w.
// It is first order in λ = N·r: it charges every failure u0 + Δt/2, though failures come sooner
// than Δt/2 after the last checkpoint when λ·Δt is not small.
double KokolisEttr(int nodes, double rate_per_node_s, double u0_s, double interval_s, double write_s);
// The same model's exact long-run ETTR (a renewal argument: an attempt lasts 1/λ in expectation
// whatever it does, survives its restart with e^(−λ·u0), and then saves Δt per completed cycle of
// Δt + w, of which it completes q/(1−q) on average, q = e^(−λ(Δt + w))):
// λ · e^(−λ·u0) · Δt · q / (1 − q).
double RenewalEttr(int nodes, double rate_per_node_s, double u0_s, double interval_s, double write_s);

// The YAML of --failures (every key optional; durations as "5m", "4h", "30s"):
//   rate_per_1000_node_days: 3.8
//   causes: {gpu: 0.587, software: 0.129, network: 0.101, host: 0.076, other: 0.107}
//   detect: 5s
//   repair: 4h
//   restart: 5m
//   checkpoint: {interval: daly, write: 30s}   # interval: daly or a duration
//   max_requeues: 1000
// Errors are one line naming the file and the key.
StatusOr<FailureModel> ParseFailureModel(const std::string& yaml, const std::string& source);
StatusOr<FailureModel> LoadFailureModel(const std::string& path);

}  // namespace loom::sim
