#include "cli/export_trace.h"

#include <algorithm>
#include <cstdio>


namespace loom::cli {
namespace {

bool Final(v1::JobState s) {
  return s == v1::COMPLETED || s == v1::FAILED || s == v1::CANCELLED || s == v1::NODE_FAIL || s == v1::TIMEOUT;
}

const v1::JobRun* LastRun(const v1::Job& job) {
  return job.runs_size() > 0 ? &job.runs(job.runs_size() - 1) : nullptr;
}

std::string Plain(std::string s) {
  for (char& c : s) {
    if (c == ',' || c == '\n' || c == '\r') c = '_';
  }
  return s;
}

std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", ms / 1000.0);
  return buf;
}

std::string IfSet(int64_t v) { return v != 0 ? std::to_string(v) : ""; }

}  // namespace

bool InTrace(const v1::Job& job, int64_t since_ms, int64_t until_ms) {
  if (!Final(job.state())) return false;
  if (job.submit_time_ms() < since_ms || job.submit_time_ms() >= until_ms) return false;
  const v1::JobRun* run = LastRun(job);
  return run && run->start_ms() > 0 && run->end_ms() >= run->start_ms();
}

std::string TraceCsv(std::vector<v1::Job> jobs) {
  std::stable_sort(jobs.begin(), jobs.end(), [](const v1::Job& a, const v1::Job& b) {
    return a.submit_time_ms() != b.submit_time_ms() ? a.submit_time_ms() < b.submit_time_ms() : a.id() < b.id();
  });
  std::string out = "arrival_s,gpus,duration_s,id,name,tenant,priority,qos,time_limit_s,gpus_per_node\n";
  if (jobs.empty()) return out;
  const int64_t first = jobs.front().submit_time_ms();
  for (const v1::Job& j : jobs) {
    const v1::JobRun& run = *LastRun(j);
    // A run of 0 ms (rounded) would not parse as a positive duration: 1 ms is the clock's grain.
    const int64_t ran_ms = std::max<int64_t>(1, run.end_ms() - run.start_ms());
    const v1::JobSpec& s = j.spec();
    out += Seconds(j.submit_time_ms() - first) + "," + std::to_string(s.gpus()) + "," + Seconds(ran_ms) + "," +
           std::to_string(j.id()) + "," + Plain(s.name()) + "," + Plain(s.tenant()) + "," + IfSet(s.priority()) +
           "," + IfSet(s.qos()) + "," + IfSet(s.time_limit_s()) + "," + IfSet(s.gpus_per_node()) + "\n";
  }
  return out;
}

}  // namespace loom::cli
