// The policy interface. A policy reads the cluster and the pending jobs and decides which jobs
// start where; it changes nothing. The mechanism (SchedulerCore) commits the decisions. Policies
// see time only as an argument, so loomd, tests and the simulator run them identically.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "scheduler/core/cluster.h"
#include "scheduler/core/types.h"

namespace loom::sched {

struct PendingJob {
  JobId id = 0;
  const JobRequest* request = nullptr;
  TimeMs submit_time = 0;
};

// Why a pending job did not start in a pass (what `loom queue` shows, as squeue's REASON does).
enum class WaitReason {
  kNone,
  kPriority,   // a job ahead of it in the queue is waiting
  kResources,  // it is at the head, but no gang of free GPUs fits it now
};
const char* WaitReasonName(WaitReason r);

struct StartDecision {
  JobId id = 0;
  Allocation allocation;
};

struct PassResult {
  std::vector<StartDecision> starts;
  std::vector<std::pair<JobId, WaitReason>> waiting;
};

// Free GPUs as a policy sees them during one pass: the cluster's, minus what the policy has
// already decided to give to earlier jobs of the same pass.
class CapacityView {
 public:
  explicit CapacityView(const Cluster& cluster);
  const Cluster& cluster() const { return cluster_; }
  GpuMask free(NodeIndex n) const { return free_[n]; }
  bool whole_free(NodeIndex n) const { return free_[n] == cluster_.node(n).all(); }
  void Take(const Allocation& allocation);

 private:
  const Cluster& cluster_;
  std::vector<GpuMask> free_;
};

// Chooses GPUs for one job, all or nothing, or says it does not fit now.
class Placer {
 public:
  virtual ~Placer() = default;
  virtual std::string name() const = 0;
  virtual bool Place(const CapacityView& view, const JobRequest& request, Allocation* out) const = 0;
};

// One scheduling pass: order the queue, place what fits.
class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;
  virtual std::string name() const = 0;
  virtual PassResult Schedule(const Cluster& cluster, std::span<const PendingJob> pending,
                              TimeMs now) const = 0;
};

}  // namespace loom::sched
