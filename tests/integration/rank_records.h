// Rank records: what the failure and chaos tests' ranks write about themselves, and the checks
// on them. Each rank appends to its own file <dir>/rank.<job>.<attempt>.<rank> a first line
// "<job> <attempt> <node> <CUDA_VISIBLE_DEVICES>" and then its wall-clock time (ns) every tick, so
// a rank killed by SIGKILL still leaves its interval [first tick, last tick] behind (up to one
// tick short at the end).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom::testing {

struct RankRecord {
  int64_t job = 0;
  int attempt = 0;
  int rank = 0;
  std::string node;
  std::vector<int> gpus;
  int64_t start_ns = 0, end_ns = 0;  // first and last tick; 0 if it never ticked
};

// A /bin/sh script for a rank: records itself, then ticks every `tick` seconds `ticks` times
// (forever while `ticks` is 0, or until the file <workdir>/go exists when `until_go`).
std::string RankScript(int ticks, const std::string& tick = "0.1", bool until_go = false);

// Every rank record under `dir` (files named rank.*).
std::vector<RankRecord> ReadRankRecords(const std::string& dir);

// Pure checks; each returns one line per violation (empty: none).
// Two attempts of one job whose ranks' intervals overlap.
std::vector<std::string> AttemptOverlaps(const std::vector<RankRecord>& records);
// One GPU of one node held by two different (job, attempt)s at the same time.
std::vector<std::string> GpuOverlaps(const std::vector<RankRecord>& records);

}  // namespace loom::testing
