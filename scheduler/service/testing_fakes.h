// Test doubles for the control plane: a clock the test moves and workers that record calls.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
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
    if (lose_launch) return Unavailable("deadline exceeded");  // never reached the worker
    uint64_t& mark = marks[address];
    mark = std::max(mark, r.launch_seq());  // this fake processes its launches in order
    return fail_launch ? FailedPrecondition("the worker refused it") : Status::Ok();
  }
  // What a real worker's heartbeat reports as its launch mark, after `reply`'s fence.
  uint64_t Mark(const std::string& address, const v1::HeartbeatReply* reply = nullptr) {
    uint64_t& mark = marks[address];
    if (reply) mark = std::max(mark, reply->launch_fence());
    return mark;
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
  std::map<std::string, uint64_t> marks;  // per worker address: see Mark
  bool fail_launch = false;  // the worker answers with a refusal (it started nothing)
  bool lose_launch = false;  // the call times out: the worker may or may not have it
  std::function<void()> on_launch;  // runs inside Launch, e.g. to make the next commit fail
};

}  // namespace loom
