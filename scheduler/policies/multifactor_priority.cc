#include "scheduler/policies/multifactor_priority.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "scheduler/policies/priority_fifo.h"

namespace loom::sched {

MultifactorPriority::MultifactorPriority(PriorityWeights weights, FairShareConfig fair_share)
    : weights_(weights), ledger_(std::move(fair_share)) {}

PriorityFactors MultifactorPriority::Combine(const PendingJob& job, double fair_share,
                                             int cluster_gpus, TimeMs now) const {
  const JobRequest& r = *job.request;
  PriorityFactors f;
  const double waited = static_cast<double>(std::max<TimeMs>(0, now - job.submit_time));
  f.age = weights_.max_age_ms > 0 ? std::min(1.0, waited / weights_.max_age_ms) : 0.0;
  f.fair_share = fair_share;
  f.job_size = cluster_gpus > 0 ? std::min(1.0, static_cast<double>(r.gpus) / cluster_gpus) : 0.0;
  f.qos = weights_.max_qos > 0 ? std::clamp(static_cast<double>(r.qos) / weights_.max_qos, 0.0, 1.0)
                               : 0.0;
  f.priority = weights_.age * f.age + weights_.fair_share * f.fair_share +
               weights_.job_size * f.job_size + weights_.qos * f.qos + r.priority;
  return f;
}

PriorityFactors MultifactorPriority::Factors(const PendingJob& job, int cluster_gpus,
                                             TimeMs now) const {
  return Combine(job, ledger_.Factor(job.request->tenant), cluster_gpus, now);
}

std::vector<PendingJob> MultifactorPriority::Order(std::span<const PendingJob> pending,
                                                   int cluster_gpus, TimeMs now) const {
  // A handful of tenants, 100,000 jobs: compute each tenant's factor once.
  std::unordered_map<std::string_view, double> fair_share;
  struct Keyed {
    double priority;
    PendingJob job;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(pending.size());
  for (const PendingJob& job : pending) {
    const std::string& tenant = job.request->tenant;
    auto it = fair_share.find(tenant);
    if (it == fair_share.end()) it = fair_share.emplace(tenant, ledger_.Factor(tenant)).first;
    keyed.push_back({Combine(job, it->second, cluster_gpus, now).priority, job});
  }
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    if (a.job.request->qos != b.job.request->qos) return a.job.request->qos > b.job.request->qos;
    return a.priority != b.priority ? a.priority > b.priority : QueueBefore(a.job, b.job);
  });
  std::vector<PendingJob> order;
  order.reserve(keyed.size());
  for (const Keyed& k : keyed) order.push_back(k.job);
  return order;
}

}  // namespace loom::sched
