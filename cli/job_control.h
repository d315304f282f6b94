// loom hold / release, and the CLI's side of job arrays and dependencies: job references
// (12, 12_7), --dependency text as protos, and the collapsed queue rows (12_[5-99%8]).
#pragma once

#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/status.h"
#include "loom/v1/loom.pb.h"

namespace loom::cli {

// `loom hold JOB...` and `loom release JOB...` (JOB: 12, 12_7, or an array's id for all tasks).
int Hold(const Global& g, const std::vector<std::string>& jobs);
int Release(const Global& g, const std::vector<std::string>& jobs);

// "12" or "12_7" as a JobRef; INVALID_ARGUMENT otherwise.
StatusOr<v1::JobRef> ParseRef(const std::string& text);
// --dependency text into the spec's terms; INVALID_ARGUMENT (one line) otherwise.
Status ParseDependencies(const std::string& text, v1::JobSpec& spec);

// The JOBID column: "12", "12_3" for a task.
std::string JobIdText(const v1::Job& job);
// `loom queue`'s rows in order, with each array's PENDING tasks collapsed into one row: the
// row of its first pending task whose id reads "12_[5-99%8]".
struct QueueRow {
  const v1::Job* job;
  std::string id;
};
std::vector<QueueRow> CollapseArrays(const std::vector<const v1::Job*>& jobs);

}  // namespace loom::cli
