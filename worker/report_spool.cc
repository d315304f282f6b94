#include "worker/report_spool.h"

#include "common/process.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace loom::worker {
namespace {

constexpr const char* kSuffix = ".exit";

}  // namespace

std::string ReportSpool::PathOf(int64_t job_id, int attempt) const {
  return dir_ + "/" + std::to_string(job_id) + "." + std::to_string(attempt) + kSuffix;
}

Status ReportSpool::Put(const v1::ReportJobExitRequest& report) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Internal("cannot create " + dir_ + ": " + ec.message());
  std::string data;
  if (!report.SerializeToString(&data)) return Internal("cannot encode the exit report");
  return WriteFileAtomically(PathOf(report.job_id(), report.attempt()), data);
}

Status ReportSpool::Remove(int64_t job_id, int attempt) {
  const std::string path = PathOf(job_id, attempt);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Internal("cannot remove " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

std::vector<v1::ReportJobExitRequest> ReportSpool::Load() const {
  std::vector<v1::ReportJobExitRequest> reports;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != kSuffix) continue;
    auto data = ReadWholeFile(entry.path());
    v1::ReportJobExitRequest r;
    if (!data.ok() || !r.ParseFromString(*data)) {
      std::fprintf(stderr, "loom-worker: skipping unreadable exit report %s\n", entry.path().c_str());
      continue;
    }
    reports.push_back(std::move(r));
  }
  std::sort(reports.begin(), reports.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.job_id(), a.attempt()) < std::make_pair(b.job_id(), b.attempt());
  });
  return reports;
}

int64_t RetryDelayMs(int failures, int64_t min_ms, int64_t max_ms) {
  if (failures <= 0 || min_ms <= 0) return 0;
  int64_t delay = min_ms;
  for (int i = 1; i < failures && delay < max_ms; ++i) delay *= 2;
  return std::min(delay, max_ms);
}

}  // namespace loom::worker
