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
  if (r.qos < 0) return InvalidArgument("QoS must not be negative");
  if (r.one_leaf_wait_ms < 0) return InvalidArgument("the one-leaf wait must not be negative");
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
  if (running_.count(id)) return AlreadyExists("job " + std::to_string(id) + " is running");
  if (!pending_.emplace(id, Queued{request, submit_time, WaitReason::kNone, std::nullopt}).second) {
    return AlreadyExists("job " + std::to_string(id) + " is already queued");
  }
  return Status::Ok();
}

Status SchedulerCore::Adopt(JobId id, const Allocation& allocation, const JobRequest& request,
                            TimeMs start_time) {
  LOOM_RETURN_IF_ERROR(cluster_.Allocate(id, allocation));
  running_[id] = Running{request, start_time, false};
  return Status::Ok();
}

void SchedulerCore::MarkPreempting(JobId id) {
  if (auto it = running_.find(id); it != running_.end()) it->second.preempting = true;
}

Status SchedulerCore::RemovePending(JobId id) {
  if (pending_.erase(id) == 0) return NotFound("job " + std::to_string(id) + " is not pending");
  return Status::Ok();
}

void SchedulerCore::Finish(JobId id, std::optional<TimeMs> end_time) {
  cluster_.Release(id);
  auto it = running_.find(id);
  if (it == running_.end()) return;
  if (end_time) ended_.emplace_back(std::move(it->second), *end_time);
  running_.erase(it);
}

Status SchedulerCore::Requeue(JobId id, TimeMs submit_time, std::optional<TimeMs> end_time) {
  auto it = running_.find(id);
  if (it == running_.end()) return NotFound("job " + std::to_string(id) + " is not running");
  JobRequest request = it->second.request;
  Finish(id, end_time);
  return AddPending(id, request, submit_time);
}

PassResult SchedulerCore::Schedule(TimeMs now) {
  std::vector<PendingJob> queue;
  queue.reserve(pending_.size());
  for (const auto& [id, q] : pending_) queue.push_back({id, &q.request, q.submit_time});
  std::vector<RunningJob> running;
  running.reserve(running_.size());
  for (const auto& [id, r] : running_) running.push_back({id, &r.request, r.start_time, r.preempting});
  std::vector<RunningJob> accrued = running;
  for (const auto& [r, end] : ended_) accrued.push_back({0, &r.request, r.start_time, false, end});
  policy_->Advance(accrued, now);
  ended_.clear();
  PassResult result = policy_->Schedule(cluster_, queue, running, now);

  std::vector<StartDecision> committed;
  committed.reserve(result.starts.size());
  for (StartDecision& d : result.starts) {
    // A policy's decisions are checked, not trusted: a bad one leaves the job queued.
    if (!pending_.count(d.id) || !cluster_.Allocate(d.id, d.allocation).ok()) continue;
    auto queued = pending_.extract(d.id);
    running_[d.id] = Running{std::move(queued.mapped().request), now, false};
    committed.push_back(std::move(d));
  }
  result.starts = std::move(committed);
  for (const auto& [id, why] : result.waiting) {
    if (auto it = pending_.find(id); it != pending_.end()) {
      it->second.reason = why;
      it->second.expected_start.reset();
    }
  }
  for (const auto& [id, when] : result.expected_starts) {
    if (auto it = pending_.find(id); it != pending_.end()) it->second.expected_start = when;
  }
  for (const Preemption& p : result.preemptions) {
    if (auto it = running_.find(p.victim); it != running_.end()) it->second.preempting = true;
  }
  return result;
}

std::optional<JobRequest> SchedulerCore::SmallestPending() const {
  const Queued* smallest = nullptr;
  for (const auto& [id, queued] : pending_) {
    if (!smallest || queued.request.gpus < smallest->request.gpus) smallest = &queued;
  }
  if (!smallest) return std::nullopt;
  return smallest->request;
}

std::vector<PriorityFactor> SchedulerCore::Explain(JobId id, TimeMs now) const {
  auto it = pending_.find(id);
  if (it == pending_.end()) return {};
  return policy_->Explain(cluster_, {id, &it->second.request, it->second.submit_time}, now);
}

std::optional<TimeMs> SchedulerCore::expected_start(JobId id) const {
  auto it = pending_.find(id);
  return it == pending_.end() ? std::nullopt : it->second.expected_start;
}

WaitReason SchedulerCore::reason(JobId id) const {
  auto it = pending_.find(id);
  return it == pending_.end() ? WaitReason::kNone : it->second.reason;
}

}  // namespace loom::sched
