// `loom export-trace`: a cluster's finished jobs as loom-sim's trace CSV (docs/SIM.md), so a
// site can replay its own past under another policy or on a bigger cluster. Pure: rows in, text
// out; the command pages the rows from loomd (ListJobs with include_finished, from SQLite).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loom/v1/loom.pb.h"

namespace loom::cli {

// Whether `job` belongs in a trace of jobs submitted in [since_ms, until_ms): it ended (a final
// state) after at least one attempt that started and ended.
bool InTrace(const v1::Job& job, int64_t since_ms, int64_t until_ms);

// The trace: a header, then one row a job in submission order. arrival_s is the submission
// relative to the first job's; duration_s the last attempt's run time (what the job took when
// it ran to its end); id, name, tenant, priority, qos, time_limit_s and gpus_per_node from the
// spec (empty where unset). Commas and line breaks in names and tenants become '_' (the format
// has no quoting). Jobs for which InTrace is false must have been left out.
std::string TraceCsv(std::vector<v1::Job> jobs);

struct Global;
// loom export-trace [--since D] [--until D] [-o FILE]: the jobs submitted from `since` ago to
// `until` ago (durations back from now; empty `until`: now), paged from loomd's store. A
// non-admin's token sees its own tenant's jobs only (loomd filters them). Writes FILE, or stdout.
int ExportTrace(const Global& g, const std::string& since, const std::string& until, const std::string& out);

}  // namespace loom::cli
