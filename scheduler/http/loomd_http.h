// loomd's HTTP side (--http-listen): /metrics for Prometheus, read-only JSON under /api/ and the
// web dashboard those feed, all on one port. It reads loomd's state only through ControlPlane's
// public read methods, and keeps one thing of its own: a short in-memory history of running
// jobs' step figures (sampled every few seconds) for the job page's charts.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/http/http_server.h"
#include "scheduler/http/dashboard_auth.h"
#include "common/status.h"
#include "scheduler/service/control_plane.h"

namespace loom::http {

// One point of a job's step history.
struct StepPoint {
  int64_t t_ms = 0;
  double mfu = 0;
  double step_s = 0;
};

// The step history of running jobs: at most `kPoints` per job, only for jobs still known.
// Pure bookkeeping, no clock of its own.
class StepHistory {
 public:
  static constexpr size_t kPoints = 360;
  // Records each running training job's current figures at `now_ms`; forgets jobs not running.
  void Record(const std::vector<v1::Job>& jobs, int64_t now_ms);
  std::vector<StepPoint> Of(int64_t job_id) const;

 private:
  std::map<int64_t, std::deque<StepPoint>> points_;
};

class LoomdHttp {
 public:
  // Serves on `listen` ("127.0.0.1:0": a free loopback port). `plane` must outlive this. With
  // `auth.verify` set (loomd with tokens) the pages and /api/ need an admin token
  // (dashboard_auth.h); unset, they are open, as a plaintext loomd's gRPC is.
  static StatusOr<std::unique_ptr<LoomdHttp>> Start(const std::string& listen, ControlPlane* plane,
                                                    int64_t sample_interval_ms = 2000, DashboardAuth auth = {});
  ~LoomdHttp();  // stops the sampler and the server

  std::string url() const { return server_->url(); }

  // The bodies of each endpoint; public so tests call them without HTTP.
  std::string Metrics();
  std::string ClusterJson();
  std::string QueueJson();
  StatusOr<std::string> JobJson(int64_t id, int tail_bytes);
  std::string EfficiencyJson();

 private:
  explicit LoomdHttp(ControlPlane* plane) : plane_(plane) {}
  void Sample(int64_t interval_ms);

  ControlPlane* const plane_;
  std::unique_ptr<HttpServer> server_;
  std::thread sampler_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;          // GUARDED_BY(mu_)
  StepHistory history_;        // GUARDED_BY(mu_)
};

}  // namespace loom::http
