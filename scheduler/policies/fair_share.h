// FairShareLedger: decayed GPU usage per tenant against configured weights, and GPU quotas.
// Assumptions (Slurm's priority/multifactor classic fair share):
//  - Usage is GPU-milliseconds, accrued from the running jobs between two calls to Advance, and
//    halved every half_life_ms so last month's burst stops counting against a tenant.
//  - A tenant's factor is 2^(-usage_share / weight_share): 1 for a tenant that used nothing, 0.5
//    for one that used exactly its share, towards 0 as it exceeds it. Tenants that are not
//    configured get default_weight.
//  - A quota caps the GPUs a tenant's running jobs hold at once (0: no cap).
#pragma once

#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "scheduler/core/policy.h"

namespace loom::sched {

struct TenantShare {
  double weight = 1.0;
  int gpu_quota = 0;  // 0: none
};

struct FairShareConfig {
  std::map<std::string, TenantShare> tenants;
  double default_weight = 1.0;
  TimeMs half_life_ms = 7LL * 24 * 3600 * 1000;
};

class FairShareLedger {
 public:
  explicit FairShareLedger(FairShareConfig config);

  // Decays past usage to `now` and adds the GPU time of `running` since the previous call.
  void Advance(std::span<const RunningJob> running, TimeMs now);

  double Factor(const std::string& tenant) const;
  int Quota(const std::string& tenant) const;
  double Usage(const std::string& tenant) const;

  // Every tenant's usage as of the last Advance (none before the first), by tenant; and the
  // inverse, for a ledger that starts over from saved usage instead of from nothing.
  std::vector<TenantUsage> Snapshot() const;
  void Restore(std::span<const TenantUsage> usage);

 private:
  const TenantShare& Share(const std::string& tenant) const;

  FairShareConfig config_;
  TenantShare default_share_;
  double total_weight_ = 0;
  std::unordered_map<std::string, double> usage_;
  double total_usage_ = 0;
  TimeMs last_ = 0;
  bool started_ = false;
};

// GPUs each tenant holds, kept up to date through one pass so a quota is checked against the
// jobs started earlier in the same pass too.
class QuotaTracker {
 public:
  QuotaTracker(const FairShareLedger& ledger, std::span<const RunningJob> running);
  bool Allows(const JobRequest& request) const;
  void Add(const JobRequest& request) { held_[request.tenant] += request.gpus; }

 private:
  const FairShareLedger& ledger_;
  std::unordered_map<std::string, int> held_;
};

}  // namespace loom::sched
