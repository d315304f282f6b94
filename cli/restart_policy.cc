#include "cli/restart_policy.h"

#include <algorithm>

namespace loom::cli {

RestartDecision OnProcessDeath(RestartHistory& history, int64_t now_ms) {
  if (now_ms - history.started_ms >= kStableMs) {
    history.quick_deaths = 0;  // it ran well: this death is news, not a loop
  }
  ++history.quick_deaths;
  if (history.quick_deaths > kMaxQuickDeaths) return {false, 0};
  int64_t delay = kMinRestartDelayMs;
  for (int i = 1; i < history.quick_deaths && delay < kMaxRestartDelayMs; ++i) delay *= 2;
  return {true, std::min(delay, kMaxRestartDelayMs)};
}

}  // namespace loom::cli
