// The text forms of job arrays and dependencies, as sbatch spells them, parsed without I/O so the
// CLI (early, friendly errors) and loomd (the authority) apply the same rules.
//   --array 0-99%8 | 1,3,5-7 | 0-15:4        (docs/ARRAYS_AND_DEPENDENCIES.md)
//   --dependency afterok:12:13,afterany:14_2,afternotok:15,singleton
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace loom {

// Slurm's MaxArraySize: task ids are 0..kMaxArraySize-1, and an array has at most that many.
constexpr int kMaxArraySize = 100000;

struct ArraySpec {
  std::vector<int> tasks;  // ascending, distinct
  int max_running = 0;     // %K; 0: no cap
};
// INVALID_ARGUMENT, naming the bad part, for anything else.
StatusOr<ArraySpec> ParseArraySpec(std::string_view text);
// "5-99", "1,3,5-7": ascending task ids as ranges (steps are not recovered: "0,4,8").
std::string FormatTaskRanges(const std::vector<int>& tasks);

struct DependencyTerm {
  enum Type { kAfterOk, kAfterAny, kAfterNotOk, kSingleton } type;
  int64_t job_id = 0;                // 0 for singleton
  std::optional<int> array_task;     // 12_3
  bool operator==(const DependencyTerm&) const = default;
};
// Terms joined by ',' (all must hold); a type's ids joined by ':'. INVALID_ARGUMENT otherwise.
StatusOr<std::vector<DependencyTerm>> ParseDependencySpec(std::string_view text);

// A job reference: "12" or "12_7". INVALID_ARGUMENT otherwise.
struct JobRefText {
  int64_t job_id = 0;
  std::optional<int> array_task;
};
StatusOr<JobRefText> ParseJobRef(std::string_view text);

}  // namespace loom
