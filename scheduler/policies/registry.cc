#include "scheduler/policies/registry.h"

#include <functional>
#include <map>

#include "scheduler/policies/backfill.h"
#include "scheduler/policies/gang_placer.h"
#include "scheduler/policies/priority_fifo.h"

namespace loom::sched {
namespace {

using Factory = std::function<std::unique_ptr<SchedulingPolicy>(const PolicySettings&)>;

std::unique_ptr<SchedulingPolicy> MakeBackfill(const PolicySettings& settings, bool preemption) {
  BackfillOptions options = settings.backfill;
  options.preemption = options.preemption && preemption;
  return std::make_unique<BackfillPolicy>(
      std::make_unique<GangPlacer>(), MultifactorPriority(settings.weights, settings.fair_share),
      options);
}

const std::map<std::string, Factory>& Registry() {
  static const auto* registry = new std::map<std::string, Factory>{
      {"priority-fifo",
       [](const PolicySettings&) {
         return std::make_unique<PriorityFifoPolicy>(std::make_unique<GangPlacer>());
       }},
      {"multifactor-backfill", [](const PolicySettings& s) { return MakeBackfill(s, true); }},
      {"multifactor-backfill-no-preemption",
       [](const PolicySettings& s) { return MakeBackfill(s, false); }},
  };
  return *registry;
}

}  // namespace

StatusOr<std::unique_ptr<SchedulingPolicy>> MakePolicy(const std::string& name) {
  return MakePolicy(name, PolicySettings{});
}

StatusOr<std::unique_ptr<SchedulingPolicy>> MakePolicy(const std::string& name,
                                                       const PolicySettings& settings) {
  auto it = Registry().find(name);
  if (it == Registry().end()) {
    std::string known;
    for (const auto& n : PolicyNames()) known += (known.empty() ? "" : ", ") + n;
    return InvalidArgument("unknown scheduling policy '" + name + "' (known: " + known + ")");
  }
  return it->second(settings);
}

std::vector<std::string> PolicyNames() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : Registry()) names.push_back(name);
  return names;
}

}  // namespace loom::sched
