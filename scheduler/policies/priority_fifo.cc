#include "scheduler/policies/priority_fifo.h"

#include <algorithm>

namespace loom::sched {

bool QueueBefore(const PendingJob& a, const PendingJob& b) {
  if (a.request->priority != b.request->priority) return a.request->priority > b.request->priority;
  if (a.submit_time != b.submit_time) return a.submit_time < b.submit_time;
  return a.id < b.id;
}

PassResult PriorityFifoPolicy::Schedule(const Cluster& cluster, std::span<const PendingJob> pending,
                                        std::span<const RunningJob> /*running*/,
                                        TimeMs /*now*/) const {
  std::vector<PendingJob> order(pending.begin(), pending.end());
  std::sort(order.begin(), order.end(), QueueBefore);

  PassResult result;
  CapacityView view(cluster);
  size_t i = 0;
  for (; i < order.size(); ++i) {
    Allocation allocation;
    if (!placer_->Place(view, *order[i].request, &allocation)) {
      result.waiting.emplace_back(order[i].id, WaitReason::kResources);
      ++i;
      break;
    }
    view.Take(allocation);
    result.starts.push_back({order[i].id, std::move(allocation)});
  }
  for (; i < order.size(); ++i) result.waiting.emplace_back(order[i].id, WaitReason::kPriority);
  return result;
}

}  // namespace loom::sched
