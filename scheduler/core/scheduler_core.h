// SchedulerCore: the deterministic heart of loomd and loom-sim. It owns the cluster model and the
// queue, validates requests against the cluster, runs a policy's pass and commits its decisions.
// No I/O, no threads, no clock: callers pass time in and persist what it decides.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "common/status.h"
#include "scheduler/core/cluster.h"
#include "scheduler/core/policy.h"

namespace loom::sched {

class SchedulerCore {
 public:
  explicit SchedulerCore(std::unique_ptr<SchedulingPolicy> policy);

  Cluster& cluster() { return cluster_; }
  const Cluster& cluster() const { return cluster_; }

  // Fills in gpus_per_node when it is 0 and checks that the request can ever run on this cluster
  // (all its nodes, up or down). INVALID_ARGUMENT for malformed requests, RESOURCE_EXHAUSTED for
  // requests larger than the cluster.
  StatusOr<JobRequest> Normalize(JobRequest request) const;

  // Queues a normalised request.
  Status AddPending(JobId id, const JobRequest& request, TimeMs submit_time);
  // Re-adopts a job that was already running (loomd restarted): its GPUs are held again.
  Status Adopt(JobId id, const Allocation& allocation);
  // Removes a pending job (cancelled); NOT_FOUND if it is not pending.
  Status RemovePending(JobId id);
  // Frees a running job's GPUs (it ended). Idempotent.
  void Finish(JobId id);

  // Runs one pass and commits the starts: their GPUs are held when this returns, and the jobs
  // leave the queue. Waiting reasons are kept for reason().
  PassResult Schedule(TimeMs now);

  bool IsPending(JobId id) const { return pending_.count(id) != 0; }
  size_t pending_count() const { return pending_.size(); }
  WaitReason reason(JobId id) const;

 private:
  struct Queued {
    JobRequest request;
    TimeMs submit_time = 0;
    WaitReason reason = WaitReason::kNone;
  };

  std::unique_ptr<SchedulingPolicy> policy_;
  Cluster cluster_;
  std::map<JobId, Queued> pending_;
};

}  // namespace loom::sched
