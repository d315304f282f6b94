#include "bench/sched/workload.h"

#include <cmath>

namespace loom::bench {
namespace {

constexpr sched::TimeMs kHour = 3600 * 1000;
const char* const kTenantNames[] = {"pretrain",   "posttrain",  "multimodal", "eval",
                                    "research-a", "research-b", "infra",      "interns"};

}  // namespace

int JobMix::Size() {
  // (cumulative share, smallest, largest) in GPUs; sizes above 8 are whole nodes.
  struct Band {
    double upto;
    int lo, hi;
  };
  static constexpr Band kBands[] = {
      {0.40, 1, 1},   {0.50, 2, 2},     {0.60, 4, 4},        {0.75, 8, 8},
      {0.90, 16, 64}, {0.97, 128, 512}, {0.995, 1024, 2048}, {1.0, 4096, 4096},
  };
  const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
  for (const Band& b : kBands) {
    if (u > b.upto) continue;
    if (b.lo == b.hi) return b.lo;
    // Powers of two between lo and hi, as users ask for.
    const int steps = static_cast<int>(std::log2(b.hi / b.lo));
    return b.lo << std::uniform_int_distribution<int>(0, steps)(rng_);
  }
  return 1;
}

sched::JobRequest JobMix::Next(int gpus_per_node) {
  sched::JobRequest r;
  r.gpus = Size();
  r.gpus_per_node = r.gpus <= gpus_per_node ? r.gpus : gpus_per_node;
  // Log-uniform between 1 and 72 hours.
  const double hours = std::exp(std::uniform_real_distribution<double>(0, std::log(72.0))(rng_));
  r.time_limit_ms = static_cast<sched::TimeMs>(hours * kHour);
  r.tenant = kTenantNames[std::uniform_int_distribution<int>(0, 7)(rng_)];
  r.qos = std::uniform_int_distribution<int>(0, 99)(rng_) < 3 ? 1 : 0;
  if (r.nodes() > 1 && r.nodes() <= 32 && std::uniform_int_distribution<int>(0, 9)(rng_) < 3) {
    r.leaf = sched::LeafConstraint::kPreferOne;
    r.one_leaf_wait_ms = kHour;
  }
  return r;
}

sched::TimeMs JobMix::SubmitTime(sched::TimeMs now) {
  return now - std::uniform_int_distribution<sched::TimeMs>(0, 24 * kHour)(rng_);
}

sched::FairShareConfig JobMix::Tenants() {
  sched::FairShareConfig config;
  for (int i = 0; i < 8; ++i) config.tenants[kTenantNames[i]] = {1.0 + i % 4, 0};
  config.tenants["interns"].gpu_quota = 512;
  return config;
}

}  // namespace loom::bench
