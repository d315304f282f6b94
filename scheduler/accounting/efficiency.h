// Efficiency accounting: the figures `loom stats` reports (allocation ratio, cluster MFU, goodput,
// queueing delay, fragmentation, per tenant), computed from three records loomd keeps:
//  - usage buckets: the cluster's levels (GPUs up, allocated, busy, fragmented, peak FLOP/s)
//    integrated over fixed time buckets, exact for levels that change in steps;
//  - step buckets: each job run's reported training steps, summed per bucket;
//  - job runs: when each start of a job was queued, started and ended, on how many GPUs, and
//    whether its work was lost.
// Pure: no I/O, no clock; loomd and loom-sim feed it. Definitions: docs/EFFICIENCY.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/core/cluster.h"
#include "scheduler/core/types.h"

namespace loom::acct {

using sched::TimeMs;

// The cluster's levels; each holds from one change to the next.
struct UsageLevels {
  double gpus_up = 0;          // GPUs of UP nodes
  double gpus_allocated = 0;   // of those, held by jobs
  double gpus_busy = 0;        // sum of their busy fractions, as the workers report them
  double gpus_fragmented = 0;  // idle, but unable to host the smallest pending job
  double peak_flops_up = 0;    // FLOP/s the UP GPUs could do at peak
};

// The levels integrated over [start, start + length_ms): GPU-seconds and FLOPs.
struct UsageBucket {
  TimeMs start = 0;
  TimeMs length_ms = 0;
  double gpu_up_s = 0, gpu_allocated_s = 0, gpu_busy_s = 0, gpu_fragmented_s = 0;
  double peak_flop = 0;  // what the UP GPUs could have computed in the bucket
};

// Integrates piecewise-constant levels into buckets of a fixed length aligned to multiples of it.
class UsageIntegrator {
 public:
  explicit UsageIntegrator(TimeMs bucket_ms);

  // The current levels hold until `now`; `levels` hold from `now` on. The first call starts the
  // record. A `now` earlier than the last one is taken as the last one (clocks may step back).
  void Set(TimeMs now, const UsageLevels& levels);
  // Integrates the current levels up to `now`.
  void AdvanceTo(TimeMs now);
  // The buckets that ended since the previous call, oldest first.
  std::vector<UsageBucket> TakeClosed();
  // The bucket in progress, integrated up to the last Set or AdvanceTo.
  const UsageBucket& open() const { return open_; }
  const UsageLevels& levels() const { return levels_; }
  TimeMs bucket_ms() const { return bucket_ms_; }

 private:
  const TimeMs bucket_ms_;
  bool started_ = false;
  TimeMs last_ = 0;
  UsageLevels levels_;
  UsageBucket open_;
  std::vector<UsageBucket> closed_;
};

// Training steps summed: what a job run reported, in all or in one bucket.
struct StepTotals {
  int64_t steps = 0;
  double step_s = 0, compute_s = 0, exposed_comm_s = 0, model_flops = 0;
  void Add(const StepTotals& o) {
    steps += o.steps, step_s += o.step_s, compute_s += o.compute_s;
    exposed_comm_s += o.exposed_comm_s, model_flops += o.model_flops;
  }
};

struct StepBucket {
  int64_t job_id = 0;
  int run = 0;         // index into the job's runs
  TimeMs start = 0;    // the bucket's start, as the usage buckets' are aligned
  StepTotals totals;
};

struct RunFacts {
  TimeMs eligible = 0;  // queued (submitted or requeued)
  TimeMs start = 0;
  TimeMs end = 0;       // 0: still running
  int gpus = 0;
  double peak_flops = 0;  // FLOP/s of the GPUs it held
  bool lost = false;      // failed or preempted: its steps were not useful
  StepTotals steps;
  // Why a lost run ended, for lost GPU-hours by cause: "preemption", "node_failure",
  // "health_drain", "time_limit", "rank_failure"; empty when not known.
  std::string lost_cause;
};

struct JobFacts {
  std::string tenant;
  bool pending = false;  // queued now
  std::vector<RunFacts> runs;
};

// A ratio whose denominator is zero is reported as kUndefined.
inline constexpr double kUndefined = -1;

struct Efficiency {
  double gpu_hours_available = 0, gpu_hours_allocated = 0;
  double allocation_ratio = kUndefined, gpu_busy_ratio = kUndefined;
  double model_flops = 0, mfu = kUndefined, goodput = kUndefined;
  double queue_delay_mean_s = 0, queue_delay_p95_s = 0;
  int runs_started = 0;
  double fragmentation = kUndefined, fragmented_gpus_mean = 0;
  // Effective training time ratio: useful step GPU-time / GPU-time from each training job's
  // first start to its end (or now), queueing between attempts included.
  double ettr = kUndefined;
  std::map<std::string, double> lost_gpu_hours;  // GPU-hours of lost runs, by RunFacts::lost_cause
};

struct TenantEfficiency {
  Efficiency efficiency;
  double share_of_allocated = kUndefined;
  int pending_jobs = 0;
};

struct Figures {
  Efficiency cluster;
  std::map<std::string, TenantEfficiency> tenants;
};

// The figures over [from, to), evaluated at `now` (runs still going are counted up to `now`).
// Buckets count when their start lies in the window, so the window's edges are as fine as the
// buckets. `steps` may hold buckets of jobs not in `jobs` (they are skipped).
Figures ComputeFigures(TimeMs from, TimeMs to, TimeMs now, const std::vector<UsageBucket>& usage,
                       const std::vector<StepBucket>& steps,
                       const std::map<int64_t, JobFacts>& jobs);

// Idle GPUs on UP nodes that cannot be part of any placement of `smallest` (the pending job with
// the fewest GPUs): on a node with too few free GPUs for a single-node job, or not wholly free
// for a multi-node one. 0 when nothing is pending.
int FragmentedGpus(const sched::Cluster& cluster, const std::optional<sched::JobRequest>& smallest);

// The nearest-rank percentile (0 < p <= 100) of `values`; 0 for none.
double Percentile(std::vector<double> values, double p);

}  // namespace loom::acct
