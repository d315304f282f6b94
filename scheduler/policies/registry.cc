#include "scheduler/policies/registry.h"

#include <functional>
#include <map>

#include "scheduler/policies/backfill.h"
#include "scheduler/policies/gang_placer.h"
#include "scheduler/policies/priority_fifo.h"

namespace loom::sched {
namespace {

using Factory = std::function<std::unique_ptr<SchedulingPolicy>()>;

std::unique_ptr<SchedulingPolicy> MakeBackfill(BackfillOptions options) {
  return std::make_unique<BackfillPolicy>(std::make_unique<GangPlacer>(),
                                          MultifactorPriority(PriorityWeights{}, FairShareConfig{}),
                                          options);
}

const std::map<std::string, Factory>& Registry() {
  static const auto* registry = new std::map<std::string, Factory>{
      {"priority-fifo",
       [] { return std::make_unique<PriorityFifoPolicy>(std::make_unique<GangPlacer>()); }},
      {"multifactor-backfill", [] { return MakeBackfill({}); }},
      {"multifactor-backfill-no-preemption",
       [] { return MakeBackfill({.max_reservations = 1, .preemption = false}); }},
  };
  return *registry;
}

}  // namespace

StatusOr<std::unique_ptr<SchedulingPolicy>> MakePolicy(const std::string& name) {
  auto it = Registry().find(name);
  if (it == Registry().end()) {
    std::string known;
    for (const auto& n : PolicyNames()) known += (known.empty() ? "" : ", ") + n;
    return InvalidArgument("unknown scheduling policy '" + name + "' (known: " + known + ")");
  }
  return it->second();
}

std::vector<std::string> PolicyNames() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : Registry()) names.push_back(name);
  return names;
}

}  // namespace loom::sched
