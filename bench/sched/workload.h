// The job mix of `loom-bench sched`: what a shared training cluster's queue looks like.
// Assumptions (shapes reported for Microsoft's Philly and Alibaba's PAI traces, and Meta's RSC
// papers): most jobs are small (a heavy tail of 1- to 8-GPU jobs: debugging, evaluation,
// fine-tuning), a few are very large pre-training gangs; time limits spread from an hour to
// three days; a handful of tenants with unequal shares; a few jobs of a higher QoS; some gangs
// that prefer one leaf switch. Seeded, so every run sees the same queue.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "scheduler/core/types.h"
#include "scheduler/policies/fair_share.h"

namespace loom::bench {

class JobMix {
 public:
  explicit JobMix(uint64_t seed) : rng_(seed) {}
  // A request normalised for nodes of `gpus_per_node` GPUs, submitted before `now`.
  sched::JobRequest Next(int gpus_per_node);
  sched::TimeMs SubmitTime(sched::TimeMs now);

  // The tenants and their shares: weights 1 to 4, one with a quota.
  static sched::FairShareConfig Tenants();

 private:
  int Size();
  std::mt19937_64 rng_;
};

}  // namespace loom::bench
