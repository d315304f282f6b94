#include "worker/report_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace loom::worker {
namespace {

constexpr const char* kSuffix = ".exit";

Status WriteDurably(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Internal("cannot write " + tmp + ": " + std::strerror(errno));
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      close(fd);
      return Internal("cannot write " + tmp + ": " + why);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  const bool synced = fsync(fd) == 0;
  close(fd);
  if (!synced) return Internal("cannot sync " + tmp + ": " + std::strerror(errno));
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return Internal("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

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
  return WriteDurably(PathOf(report.job_id(), report.attempt()), data);
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
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream data;
    data << in.rdbuf();
    v1::ReportJobExitRequest r;
    if (!in || !r.ParseFromString(data.str())) {
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
