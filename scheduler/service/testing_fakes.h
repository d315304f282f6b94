// Test doubles for the control plane: a clock the test moves and workers that record calls.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "scheduler/service/worker_client.h"

namespace loom {

class FakeClock final : public Clock {
 public:
  int64_t NowMs() override { return now; }
  int64_t now = 1'000'000;
};

class FakeWorkers final : public WorkerClient {
 public:
  Status Launch(const std::string& address, const v1::LaunchRequest& r) override {
    launches.push_back({address, r});
    if (on_launch) on_launch();
    return fail_launch ? Unavailable("worker gone") : Status::Ok();
  }
  Status Kill(const std::string& address, const v1::KillRequest& r) override {
    kills.push_back({address, r.job_id()});
    kill_requests.push_back(r);
    return Status::Ok();
  }
  StatusOr<v1::ReadLogReply> ReadLog(const std::string&, const v1::ReadLogRequest&) override {
    v1::ReadLogReply r;
    r.set_data("hello");
    return r;
  }
  std::vector<std::pair<std::string, v1::LaunchRequest>> launches;
  std::vector<std::pair<std::string, int64_t>> kills;
  std::vector<v1::KillRequest> kill_requests;
  bool fail_launch = false;
  std::function<void()> on_launch;  // runs inside Launch, e.g. to make the next commit fail
};

}  // namespace loom
