// The simulator: a discrete-event loop on a virtual clock that drives Loom's own SchedulerCore and
// policies (scheduler/core, scheduler/policies: the registry loomd uses) over simulated nodes.
// A job runs for its work time (its duration, or the performance model's step time × steps),
// checkpointing as the failure model says; nodes fail as a Poisson process, a failure is noticed
// after the detection delay, and every state change of a job goes through scheduler/lifecycle,
// the module loomd drives (sim/job_events.h: the seam). Single-threaded and deterministic for a given seed.
//
// Passes: like loomd, a pass runs whenever something changed (an arrival, an end, a requeue, a
// node going down or coming back), once per instant; with pass_interval_s > 0 at most once per
// interval (a coarser loop for very large runs).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "scheduler/config/cluster_config.h"
#include "scheduler/policies/registry.h"
#include "sim/failure_model.h"
#include "sim/job_events.h"
#include "sim/perf_inputs.h"
#include "sim/workload.h"

namespace loom::sim {

struct SimOptions {
  sched::ClusterConfig cluster;
  std::string policy = "priority-fifo";
  sched::PolicySettings policy_settings;
  FailureModel failures = NoFailures();
  PerfInputs perf = DefaultPerfInputs();
  uint64_t seed = 1;
  double pass_interval_s = 0;
  double preemption_grace_s = 30;  // loom-worker's SIGTERM-to-SIGKILL grace
  // A failed node's ranks are presumed gone, and its jobs' GPUs released, this long after it
  // failed (loomd's node lease). -1: 3 × the detection delay, loomd's default.
  double node_lease_s = -1;
  double sample_interval_s = 600;  // utilization, queue and fragmentation samples
  double horizon_s = 0;            // stop then (0: when every job has ended)
  // Called now and then with the virtual time and the jobs ended so far (progress on stderr).
  std::function<void(double now_s, int64_t ended, int64_t total)> progress;
};

struct JobResult {
  int64_t id = 0;
  std::string name, tenant;
  int gpus = 0;
  double arrival_s = 0;
  double start_s = -1;  // first start; -1: never started
  double end_s = -1;    // -1: not ended (horizon reached) or refused
  int attempts = 0;
  std::string state;         // COMPLETED, NODE_FAIL, TIMEOUT, REFUSED (cannot ever run), PENDING, RUNNING
  std::string refused_why;   // for REFUSED
  double work_s = 0;         // the work it needs without failures, at the packed placement
  double useful_s = 0;       // the work it did that was kept, at the placements it got
  double queued_s = 0;       // all its waits in the queue, first and after requeues
  double model_flops = 0;    // of its work (model + steps jobs)
  double tflops_per_gpu = 0; // the performance model's figure (model + steps jobs)
};

struct Sample {
  double t_s = 0;
  int gpus_up = 0, gpus_allocated = 0, gpus_fragmented = 0;
  int pending = 0, running = 0;
};

struct SimResult {
  std::vector<JobResult> jobs;
  std::vector<Sample> samples;
  std::map<std::string, double> lost_gpu_s;  // by cause (failure causes, "preemption")
  double checkpoint_gpu_s = 0;               // spent writing checkpoints
  double restart_gpu_s = 0;                  // spent restarting after requeues
  double gpu_up_s = 0, gpu_allocated_s = 0, peak_flop = 0;
  double useful_gpu_s = 0;  // allocated time that went into completed work
  double useful_flop = 0;   // model FLOPs of that work
  int64_t failures = 0, events = 0, passes = 0;
  double end_s = 0;     // virtual time at the end
  double wall_s = 0;    // real time the run took
};

// INVALID_ARGUMENT for an unknown policy or a model that is not a preset. Jobs the cluster can
// never run are REFUSED, not errors (as loomd refuses them at submission).
StatusOr<SimResult> RunSimulation(const SimOptions& options, const std::vector<SimJob>& jobs);

// A job's work time in seconds and, for model + steps jobs, its model FLOPs and TFLOP/s per GPU:
// the performance model for a TP (inside a node) × DP layout, one micro-batch per DP rank a step,
// with its nodes packed under as few leaves as they fill. An attempt whose allocation spans more
// leaves than that runs spread_factor slower.
struct JobWork {
  double seconds = 0, model_flops = 0, tflops_per_gpu = 0;
  // How much longer a step takes when the job's nodes span leaf switches although they would
  // fit under one (its DP collectives then cross the spine); 1 for jobs given by duration.
  double spread_factor = 1;
};
StatusOr<JobWork> WorkOf(const SimJob& job, int gpus_per_node, int nodes_per_leaf,
                         const std::string& gpu_model, const PerfInputs& perf);

}  // namespace loom::sim
