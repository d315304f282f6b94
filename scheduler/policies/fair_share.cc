#include "scheduler/policies/fair_share.h"

#include <algorithm>
#include <cmath>

namespace loom::sched {

FairShareLedger::FairShareLedger(FairShareConfig config) : config_(std::move(config)) {
  default_share_.weight = config_.default_weight;
  for (const auto& [name, share] : config_.tenants) total_weight_ += share.weight;
}

const TenantShare& FairShareLedger::Share(const std::string& tenant) const {
  auto it = config_.tenants.find(tenant);
  return it == config_.tenants.end() ? default_share_ : it->second;
}

void FairShareLedger::Advance(std::span<const RunningJob> running, TimeMs now) {
  if (started_ && now > last_) {
    const double dt = static_cast<double>(now - last_);
    const double decay = std::exp2(-dt / static_cast<double>(config_.half_life_ms));
    total_usage_ = 0;
    for (auto& [tenant, usage] : usage_) {
      usage *= decay;
      total_usage_ += usage;
    }
    for (const RunningJob& job : running) {
      // A job started inside the interval accrues only from its start.
      const double ran =
          static_cast<double>(std::min(now, job.end_time) - std::max(last_, job.start_time));
      if (ran <= 0) continue;
      const double used = ran * job.request->gpus;
      usage_[job.request->tenant] += used;
      total_usage_ += used;
    }
  }
  if (!started_ || now > last_) last_ = now;
  started_ = true;
}

std::vector<TenantUsage> FairShareLedger::Snapshot() const {
  std::vector<TenantUsage> out;
  if (!started_) return out;
  for (const auto& [tenant, usage] : usage_) out.push_back({tenant, usage, last_});
  std::sort(out.begin(), out.end(),
            [](const TenantUsage& a, const TenantUsage& b) { return a.tenant < b.tenant; });
  return out;
}

void FairShareLedger::Restore(std::span<const TenantUsage> usage) {
  if (usage.empty()) return;
  TimeMs as_of = usage[0].as_of;
  for (const TenantUsage& u : usage) as_of = std::max(as_of, u.as_of);
  usage_.clear();
  total_usage_ = 0;
  for (const TenantUsage& u : usage) {
    // Rows saved at different times are decayed to the latest, so they add up as one ledger.
    const double decayed =
        u.gpu_ms * std::exp2(-static_cast<double>(as_of - u.as_of) / static_cast<double>(config_.half_life_ms));
    usage_[u.tenant] += decayed;
    total_usage_ += decayed;
  }
  // The next Advance decays from the saved time and accrues the re-adopted jobs from it.
  last_ = as_of;
  started_ = true;
}

double FairShareLedger::Factor(const std::string& tenant) const {
  if (total_usage_ <= 0) return 1.0;
  const TenantShare& share = Share(tenant);
  const bool configured = config_.tenants.count(tenant) != 0;
  const double weights = total_weight_ + (configured ? 0 : share.weight);
  if (share.weight <= 0 || weights <= 0) return 0.0;
  const double usage_share = Usage(tenant) / total_usage_;
  return std::exp2(-usage_share / (share.weight / weights));
}

int FairShareLedger::Quota(const std::string& tenant) const {
  return Share(tenant).gpu_quota;
}

double FairShareLedger::Usage(const std::string& tenant) const {
  auto it = usage_.find(tenant);
  return it == usage_.end() ? 0.0 : it->second;
}

QuotaTracker::QuotaTracker(const FairShareLedger& ledger, std::span<const RunningJob> running)
    : ledger_(ledger) {
  for (const RunningJob& job : running) Add(*job.request);
}

bool QuotaTracker::Allows(const JobRequest& request) const {
  const int quota = ledger_.Quota(request.tenant);
  if (quota <= 0) return true;
  auto it = held_.find(request.tenant);
  return (it == held_.end() ? 0 : it->second) + request.gpus <= quota;
}

}  // namespace loom::sched
