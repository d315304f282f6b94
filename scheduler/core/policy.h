// The policy interface. A policy reads the cluster and the pending jobs and decides which jobs
// start where; it changes nothing. The mechanism (SchedulerCore) commits the decisions. Policies
// see time only as an argument, so loomd, tests and the simulator run them identically.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "scheduler/core/capacity_view.h"
#include "scheduler/core/cluster.h"
#include "scheduler/core/types.h"

namespace loom::sched {

struct PendingJob {
  JobId id = 0;
  const JobRequest* request = nullptr;
  TimeMs submit_time = 0;
};

// A job holding GPUs, as backfill (when will they be free?), fair share (who used them?) and
// preemption (what would stopping it cost?) see it.
struct RunningJob {
  JobId id = 0;
  const JobRequest* request = nullptr;  // never null; an adopted job without one has a default
  TimeMs start_time = 0;
  bool preempting = false;  // already chosen as a victim; its GPUs come back after the grace period
  // Set only in Advance, for a job that ended since the previous call: it used its GPUs until then.
  TimeMs end_time = kNever;
  TimeMs expected_end() const { return ExpectedEnd(start_time, *request); }
};

// A tenant's decayed GPU usage (GPU-milliseconds) as of a time: what fair share must not forget
// when loomd restarts.
struct TenantUsage {
  std::string tenant;
  double gpu_ms = 0;
  TimeMs as_of = 0;
  bool operator==(const TenantUsage&) const = default;
};

// Why a pending job did not start in a pass (what `loom queue` shows, as squeue's REASON does).
enum class WaitReason {
  kNone,
  kPriority,   // a job ahead of it in the queue is waiting
  kResources,  // it is at the head, but no gang of free GPUs fits it now
  kQuota,      // starting it would take its tenant over its GPU quota
  kTopology,   // enough GPUs are free, but not under one leaf switch as the job requires
};
const char* WaitReasonName(WaitReason r);

struct StartDecision {
  JobId id = 0;
  Allocation allocation;
};

// A running job to stop (SIGTERM, grace period, SIGKILL) and requeue so `for_job` can start.
struct Preemption {
  JobId victim = 0;
  JobId for_job = 0;
};

struct PassResult {
  std::vector<StartDecision> starts;
  std::vector<std::pair<JobId, WaitReason>> waiting;
  // When a waiting job is expected to start, for the jobs a backfill reservation was computed for
  // (what `loom queue` shows as START_TIME, like squeue's).
  std::vector<std::pair<JobId, TimeMs>> expected_starts;
  std::vector<Preemption> preemptions;
};

// Chooses GPUs for one job, all or nothing, or says it does not fit now.
class Placer {
 public:
  virtual ~Placer() = default;
  virtual std::string name() const = 0;
  virtual bool Place(const CapacityView& view, const JobRequest& request, Allocation* out) const = 0;
};

// One named term of a pending job's priority, as `loom show` lists them (like Slurm's sprio).
struct PriorityFactor {
  std::string name;
  double value = 0;
};

// One scheduling pass: order the queue, place what fits. Schedule decides and changes nothing,
// so a pass can be repeated (the benchmark does) and its result checked before it is committed.
class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;
  virtual std::string name() const = 0;
  // Accounts for the time since the last call (fair share accrues usage from the running jobs).
  // Called by the mechanism before each pass; stateless policies ignore it.
  virtual void Advance(std::span<const RunningJob> /*running*/, TimeMs /*now*/) {}
  // The usage Advance accrued, for the mechanism to persist, and to hand back after a restart
  // (before the first pass). Policies without memory have none and ignore it.
  virtual std::vector<TenantUsage> SaveUsage() const { return {}; }
  virtual void RestoreUsage(std::span<const TenantUsage> /*usage*/) {}
  virtual PassResult Schedule(const Cluster& cluster, std::span<const PendingJob> pending,
                              std::span<const RunningJob> running, TimeMs now) const = 0;
  // What a pending job's place in the queue is made of; empty for policies without factors.
  virtual std::vector<PriorityFactor> Explain(const Cluster& /*cluster*/,
                                              const PendingJob& /*job*/, TimeMs /*now*/) const {
    return {};
  }
};

}  // namespace loom::sched
