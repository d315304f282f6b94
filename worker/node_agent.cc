#include "worker/node_agent.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "scheduler/service/grpc_status.h"

namespace loom::worker {
namespace {
constexpr std::chrono::milliseconds kRpcTimeout{5000};
}  // namespace

NodeAgent::NodeAgent(std::shared_ptr<grpc::Channel> channel, const std::string& server, v1::Node node,
                     std::string session)
    : stub_(v1::Scheduler::NewStub(channel)),
      server_(server),
      node_(std::move(node)),
      session_(std::move(session)) {}

Status NodeAgent::DoRegister() {
  v1::RegisterRequest req;
  *req.mutable_node() = node_;
  req.set_session(session_);
  if (runner_) {
    for (int64_t id : runner_->Running()) req.add_running()->set_job_id(id);
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kRpcTimeout);
  v1::RegisterReply reply;
  LOOM_RETURN_IF_ERROR(FromGrpc(stub_->Register(&ctx, req, &reply), "loomd at " + server_));
  if (reply.heartbeat_interval_ms() > 0) heartbeat_ms_ = reply.heartbeat_interval_ms();
  return Status::Ok();
}

Status NodeAgent::Register() { return DoRegister(); }

void NodeAgent::OnJobExit(const JobExit& exit) {
  v1::ReportJobExitRequest r;
  r.set_node(node_.name());
  r.set_job_id(exit.job_id);
  r.set_exit_code(exit.exit_code);
  r.set_reason(exit.reason);
  std::lock_guard<std::mutex> lock(mu_);
  reports_.push_back(std::move(r));
  wake_ = true;
  cv_.notify_all();
}

void NodeAgent::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  wake_ = true;
  cv_.notify_all();
}

void NodeAgent::FlushReports() {
  for (;;) {
    v1::ReportJobExitRequest r;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (reports_.empty()) return;
      r = reports_.front();
    }
    grpc::ClientContext ctx;
    SetDeadline(&ctx, kRpcTimeout);
    v1::ReportJobExitReply reply;
    grpc::Status s = stub_->ReportJobExit(&ctx, r, &reply);
    // Unreachable loomd: keep the report for later. Any answer, even NOT_FOUND, settles it.
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    reports_.pop_front();
  }
}

void NodeAgent::Run(const std::atomic<bool>& stop) {
  bool registered = true;
  auto next_heartbeat = std::chrono::steady_clock::now();
  while (!stop) {
    // Reports first: after a loomd restart they settle jobs before registration re-adopts the rest.
    FlushReports();
    if (std::chrono::steady_clock::now() >= next_heartbeat) {
      next_heartbeat = std::chrono::steady_clock::now() + std::chrono::milliseconds(heartbeat_ms_);
      if (!registered) {
        Status s = DoRegister();
        registered = s.ok();
        if (!s.ok() && s.code() != StatusCode::kUnavailable) {
          std::fprintf(stderr, "loom-worker: register: %s\n", s.message().c_str());
        }
      }
      if (registered) {
        v1::HeartbeatRequest hb;
        hb.set_node(node_.name());
        hb.set_session(session_);
        std::vector<double> busy = runner_->Utilization(node_.gpus_size());
        if (nvml_) {
          if (auto sampled = nvml_->Busy(node_.gpus_size())) busy = std::move(*sampled);
        }
        for (int i = 0; i < node_.gpus_size(); ++i) {
          v1::Gpu* g = hb.add_gpus();
          g->set_index(i);
          g->set_utilization(busy[static_cast<size_t>(i)]);
        }
        for (int64_t id : runner_->Running()) hb.add_running()->set_job_id(id);
        grpc::ClientContext ctx;
        SetDeadline(&ctx, kRpcTimeout);
        v1::HeartbeatReply reply;
        grpc::Status s = stub_->Heartbeat(&ctx, hb, &reply);
        if (s.ok()) {
          if (reply.reregister()) {
            registered = false;
            next_heartbeat = std::chrono::steady_clock::now();
          }
          for (const v1::JobAttempt& k : reply.kill()) runner_->Kill(k.job_id(), "NotRunningHere");
        }
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, next_heartbeat, [&] { return wake_ || stop; });
    wake_ = false;
  }
}

}  // namespace loom::worker
