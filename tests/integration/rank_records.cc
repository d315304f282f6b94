#include "tests/integration/rank_records.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

namespace loom::testing {

std::string RankScript(int ticks, const std::string& tick, bool until_go) {
  std::string loop = until_go ? "while [ ! -e go ]; do" : ticks > 0 ? "n=" + std::to_string(ticks) +
      "; while [ $n -gt 0 ]; do n=$((n-1));" : "while :; do";
  return "f=rank.$LOOM_JOB_ID.$LOOM_JOB_RUN.$RANK; echo \"$LOOM_JOB_ID $LOOM_JOB_RUN $LOOM_NODENAME "
         "${CUDA_VISIBLE_DEVICES:--}\" > $f; date +%s%N >> $f; " + loop + " sleep " + tick +
         "; date +%s%N >> $f; done";
}

std::vector<RankRecord> ReadRankRecords(const std::string& dir) {
  std::vector<RankRecord> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("rank.", 0) != 0) continue;
    std::ifstream in(entry.path());
    RankRecord r;
    std::string gpus;
    if (!(in >> r.job >> r.attempt >> r.node >> gpus)) continue;  // started, wrote nothing yet
    r.rank = std::stoi(name.substr(name.rfind('.') + 1));
    std::stringstream list(gpus);
    for (std::string g; std::getline(list, g, ',');) {
      if (g != "-") r.gpus.push_back(std::stoi(g));
    }
    for (int64_t t; in >> t;) {
      if (r.start_ns == 0) r.start_ns = t;
      r.end_ns = t;
    }
    out.push_back(r);
  }
  return out;
}

namespace {

bool Overlap(const RankRecord& a, const RankRecord& b) {
  return a.start_ns != 0 && b.start_ns != 0 && a.start_ns <= b.end_ns && b.start_ns <= a.end_ns;
}

std::string Describe(const RankRecord& r) {
  return "job " + std::to_string(r.job) + " attempt " + std::to_string(r.attempt) + " rank " +
         std::to_string(r.rank) + " on " + r.node + " [" + std::to_string(r.start_ns / 1000000) + ", " +
         std::to_string(r.end_ns / 1000000) + "] ms";
}

}  // namespace

std::vector<std::string> AttemptOverlaps(const std::vector<RankRecord>& records) {
  std::map<int64_t, std::vector<const RankRecord*>> by_job;
  for (const RankRecord& r : records) by_job[r.job].push_back(&r);
  std::vector<std::string> out;
  for (const auto& [job, ranks] : by_job) {
    for (size_t i = 0; i < ranks.size(); ++i) {
      for (size_t j = i + 1; j < ranks.size(); ++j) {
        if (ranks[i]->attempt != ranks[j]->attempt && Overlap(*ranks[i], *ranks[j])) {
          out.push_back(Describe(*ranks[i]) + " overlaps " + Describe(*ranks[j]));
        }
      }
    }
  }
  return out;
}

std::vector<std::string> GpuOverlaps(const std::vector<RankRecord>& records) {
  std::map<std::pair<std::string, int>, std::vector<const RankRecord*>> by_gpu;
  for (const RankRecord& r : records) {
    for (int g : r.gpus) by_gpu[{r.node, g}].push_back(&r);
  }
  std::vector<std::string> out;
  for (auto& [gpu, ranks] : by_gpu) {
    std::sort(ranks.begin(), ranks.end(), [](auto* a, auto* b) { return a->start_ns < b->start_ns; });
    // Sorted by start, an overlap of any pair shows as one with an earlier rank that ends late.
    for (size_t i = 0; i < ranks.size(); ++i) {
      for (size_t j = i + 1; j < ranks.size() && ranks[j]->start_ns <= ranks[i]->end_ns; ++j) {
        if (std::tie(ranks[i]->job, ranks[i]->attempt) != std::tie(ranks[j]->job, ranks[j]->attempt) &&
            Overlap(*ranks[i], *ranks[j])) {
          out.push_back(gpu.first + " GPU " + std::to_string(gpu.second) + ": " + Describe(*ranks[i]) +
                        " overlaps " + Describe(*ranks[j]));
        }
      }
    }
  }
  return out;
}

}  // namespace loom::testing
