// How `loom up` restarts a cluster process that died (a worker, loomd): after a delay that
// doubles with each quick death (1 s, 2 s, 4 s ... up to 30 s) and not at all once one died
// `kMaxQuickDeaths` times in a row, each within `kStableMs` of its start (a crash loop: the rest
// of the cluster runs on, and the log says why). A process that ran stably for longer starts
// afresh. Pure: time is an argument.
#pragma once

#include <cstdint>

namespace loom::cli {

struct RestartHistory {
  int quick_deaths = 0;    // consecutive deaths within kStableMs of their start
  int64_t started_ms = 0;  // when the current run started
};

struct RestartDecision {
  bool restart = false;
  int64_t delay_ms = 0;
};

inline constexpr int64_t kStableMs = 60000;
inline constexpr int kMaxQuickDeaths = 5;
inline constexpr int64_t kMinRestartDelayMs = 1000, kMaxRestartDelayMs = 30000;

// The process whose history this is died at `now_ms`. Updates the history.
RestartDecision OnProcessDeath(RestartHistory& history, int64_t now_ms);

}  // namespace loom::cli
