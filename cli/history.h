// `loom history` (Slurm's sacct): finished jobs from loomd's database, filtered by time, tenant,
// state and name in loomd's query, paged, with elapsed time, GPU-hours, exit code, attempts and
// MFU (docs/HISTORY.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/status.h"
#include "loom/v1/loom.pb.h"

namespace loom::cli {

struct HistoryFlags {
  std::string since = "7d";  // a duration back from now, or a local date/time
  std::string until;         // empty: now
  std::string tenant, name;
  std::vector<std::string> states;  // empty: every final state
  int limit = 0;                    // 0: no cap
};

// --since/--until: "now", a duration back from `now_ms` (7d, 12h, 90m, 1:30:00) or a local date
// and time (2026-12-01, 2026-12-01T08:30, 2026-12-01 08:30:00). Unix epoch milliseconds.
StatusOr<int64_t> ParseWhen(const std::string& text, int64_t now_ms);
// The ListJobs request the flags ask for (without paging), or one line on what is wrong.
StatusOr<v1::ListJobsRequest> HistoryRequest(const HistoryFlags& flags, int64_t now_ms);

int History(const Global& g, const HistoryFlags& flags);

}  // namespace loom::cli
