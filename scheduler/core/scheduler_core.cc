#include "scheduler/core/scheduler_core.h"

#include <string>

namespace loom::sched {

SchedulerCore::SchedulerCore(std::unique_ptr<SchedulingPolicy> policy)
    : policy_(std::move(policy)) {}

StatusOr<JobRequest> SchedulerCore::Normalize(JobRequest r) const {
  using std::to_string;
  if (r.gpus <= 0) return InvalidArgument("a job needs at least 1 GPU (got " + to_string(r.gpus) + ")");
  if (r.gpus_per_node < 0) return InvalidArgument("gpus per node must not be negative");
  if (r.time_limit_ms < 0) return InvalidArgument("time limit must not be negative");
  const int largest = cluster_.max_gpus_per_node();
  if (cluster_.size() == 0 || largest == 0) {
    return ResourceExhausted("the cluster has no GPU nodes yet (start a loom-worker)");
  }
  if (r.gpus > cluster_.total_gpus()) {
    return ResourceExhausted("the job asks for " + to_string(r.gpus) + " GPUs; the cluster has " +
                             to_string(cluster_.total_gpus()) + " GPUs in all");
  }
  if (r.gpus_per_node == 0) {
    if (r.gpus <= largest) {
      r.gpus_per_node = r.gpus;
    } else if (r.gpus % largest == 0) {
      r.gpus_per_node = largest;  // whole nodes, as multi-node jobs take them anyway
    } else {
      return InvalidArgument(to_string(r.gpus) + " GPUs do not divide into whole nodes of " +
                             to_string(largest) + " GPUs; pass --gpus-per-node");
    }
  }
  if (r.gpus % r.gpus_per_node != 0) {
    return InvalidArgument("--gpus " + to_string(r.gpus) + " is not a multiple of --gpus-per-node " +
                           to_string(r.gpus_per_node));
  }
  if (r.gpus_per_node > largest) {
    return ResourceExhausted("no node has " + to_string(r.gpus_per_node) +
                             " GPUs (the largest has " + to_string(largest) + ")");
  }
  int fitting_nodes = 0;
  for (const Node& n : cluster_.nodes()) fitting_nodes += n.gpu_count >= r.gpus_per_node;
  if (fitting_nodes < r.nodes()) {
    return ResourceExhausted("the job needs " + to_string(r.nodes()) + " nodes with " +
                             to_string(r.gpus_per_node) + " GPUs each (" + to_string(r.gpus) +
                             " GPUs); the cluster has " + to_string(fitting_nodes) + " such nodes, " +
                             to_string(cluster_.total_gpus()) + " GPUs in all");
  }
  return r;
}

Status SchedulerCore::AddPending(JobId id, const JobRequest& request, TimeMs submit_time) {
  if (request.gpus_per_node <= 0 || request.gpus % request.gpus_per_node != 0) {
    return InvalidArgument("job " + std::to_string(id) + " is not normalised");
  }
  if (!pending_.emplace(id, Queued{request, submit_time, WaitReason::kNone}).second) {
    return AlreadyExists("job " + std::to_string(id) + " is already queued");
  }
  return Status::Ok();
}

Status SchedulerCore::Adopt(JobId id, const Allocation& allocation) {
  return cluster_.Allocate(id, allocation);
}

Status SchedulerCore::RemovePending(JobId id) {
  if (pending_.erase(id) == 0) return NotFound("job " + std::to_string(id) + " is not pending");
  return Status::Ok();
}

void SchedulerCore::Finish(JobId id) { cluster_.Release(id); }

PassResult SchedulerCore::Schedule(TimeMs now) {
  std::vector<PendingJob> queue;
  queue.reserve(pending_.size());
  for (const auto& [id, q] : pending_) queue.push_back({id, &q.request, q.submit_time});
  PassResult result = policy_->Schedule(cluster_, queue, now);

  std::vector<StartDecision> committed;
  committed.reserve(result.starts.size());
  for (StartDecision& d : result.starts) {
    // A policy's decisions are checked, not trusted: a bad one leaves the job queued.
    if (!pending_.count(d.id) || !cluster_.Allocate(d.id, d.allocation).ok()) continue;
    pending_.erase(d.id);
    committed.push_back(std::move(d));
  }
  result.starts = std::move(committed);
  for (const auto& [id, why] : result.waiting) {
    if (auto it = pending_.find(id); it != pending_.end()) it->second.reason = why;
  }
  return result;
}

WaitReason SchedulerCore::reason(JobId id) const {
  auto it = pending_.find(id);
  return it == pending_.end() ? WaitReason::kNone : it->second.reason;
}

}  // namespace loom::sched
