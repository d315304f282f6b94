#include "scheduler/policies/preemption.h"

#include <algorithm>
#include <optional>

namespace loom::sched {
namespace {

struct Candidate {
  const RunningJob* job;
  const Allocation* allocation;
  double gpu_hours;  // 0 for a job already being preempted
};

double GpuHoursRun(const RunningJob& job, TimeMs now) {
  if (job.preempting) return 0;
  return static_cast<double>(job.request->gpus) * std::max<TimeMs>(0, now - job.start_time) / 3.6e6;
}

void Release(const Cluster& cluster, const Allocation& allocation, CapacityView* view) {
  for (const NodeGrant& g : allocation) {
    if (cluster.node(g.node).up) view->Give(g.node, GrantMask(cluster.node(g.node), g));
  }
}

bool Overlaps(const Cluster& cluster, const Allocation& a, const Allocation& b) {
  for (const NodeGrant& x : a) {
    for (const NodeGrant& y : b) {
      if (x.node == y.node &&
          (GrantMask(cluster.node(x.node), x) & GrantMask(cluster.node(y.node), y)) != 0) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

std::optional<PreemptionPlan> PlanPreemption(const CapacityView& view, const JobRequest& request,
                                             std::span<const RunningJob> running,
                                             const std::unordered_set<JobId>& spoken_for,
                                             const Placer& placer, TimeMs now) {
  const Cluster& cluster = view.cluster();
  std::vector<Candidate> candidates;
  for (const RunningJob& job : running) {
    if (job.request->qos >= request.qos || spoken_for.count(job.id)) continue;
    const Allocation* allocation = cluster.AllocationOf(job.id);
    if (allocation != nullptr) candidates.push_back({&job, allocation, GpuHoursRun(job, now)});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.job->request->qos != b.job->request->qos)
      return a.job->request->qos < b.job->request->qos;
    if (a.gpu_hours != b.gpu_hours) return a.gpu_hours < b.gpu_hours;
    return a.job->id < b.job->id;
  });

  CapacityView freed = view;
  Allocation placement;
  size_t used = 0;
  for (; used < candidates.size(); ++used) {
    Release(cluster, *candidates[used].allocation, &freed);
    if (freed.free_gpus() >= request.gpus && placer.Place(freed, request, &placement)) break;
  }
  if (used == candidates.size()) return std::nullopt;

  PreemptionPlan plan;
  for (size_t i = 0; i <= used; ++i) {
    const Candidate& c = candidates[i];
    if (c.job->preempting || !Overlaps(cluster, *c.allocation, placement)) continue;
    plan.victims.push_back(c.job->id);
    plan.gpu_hours_lost += c.gpu_hours;
  }
  return plan;
}

}  // namespace loom::sched
