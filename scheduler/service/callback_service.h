// SchedulerCallbackService: the Scheduler gRPC service as loomd serves it, on gRPC's callback API.
// It decides only on which thread each RPC body (SchedulerService) runs:
//   - a heartbeat that commits nothing (almost all of them) is answered at once on gRPC's own
//     thread: it takes ControlPlane's state lock briefly and never waits for the store;
//   - every other call, and a heartbeat that must commit (a job lost, a health drain), runs on a
//     CallPool, as any of them may wait for a commit's fsync or a scheduling pass.
// Why: gRPC's synchronous server holds one thread per call in flight and starts new ones without
// bound, so a fleet whose heartbeats queue behind a busy loomd grew it past 11,000 threads
// (docs/BENCHMARKS.md, "Control plane at the seeds' scale"). Here the thread count is fixed:
// gRPC's few callback threads plus the pool's.
//
// Lifetime: `impl` and `pool` outlive the grpc::Server this service is registered with; the
// server's Shutdown waits for the calls the pool still holds (each ends with Finish).
#pragma once

#include "loom/v1/loom.grpc.pb.h"
#include "scheduler/service/call_pool.h"
#include "scheduler/service/scheduler_service.h"

namespace loom {

class SchedulerCallbackService final : public v1::Scheduler::CallbackService {
 public:
  SchedulerCallbackService(SchedulerService* impl, CallPool* pool) : impl_(impl), pool_(pool) {}

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* Submit(Ctx*, const v1::SubmitRequest*, v1::SubmitReply*) override;
  Reactor* GetJob(Ctx*, const v1::GetJobRequest*, v1::Job*) override;
  Reactor* ListJobs(Ctx*, const v1::ListJobsRequest*, v1::ListJobsReply*) override;
  Reactor* Cancel(Ctx*, const v1::CancelRequest*, v1::Job*) override;
  Reactor* ListNodes(Ctx*, const v1::ListNodesRequest*, v1::ListNodesReply*) override;
  Reactor* Drain(Ctx*, const v1::DrainRequest*, v1::DrainReply*) override;
  Reactor* Resume(Ctx*, const v1::ResumeRequest*, v1::ResumeReply*) override;
  Reactor* ReadLog(Ctx*, const v1::ReadLogRequest*, v1::ReadLogReply*) override;
  Reactor* GetStats(Ctx*, const v1::GetStatsRequest*, v1::Stats*) override;
  Reactor* Register(Ctx*, const v1::RegisterRequest*, v1::RegisterReply*) override;
  Reactor* Heartbeat(Ctx*, const v1::HeartbeatRequest*, v1::HeartbeatReply*) override;
  Reactor* ReportJobExit(Ctx*, const v1::ReportJobExitRequest*, v1::ReportJobExitReply*) override;
  Reactor* ReportSteps(Ctx*, const v1::ReportStepsRequest*, v1::ReportStepsReply*) override;
  Reactor* CreateToken(Ctx*, const v1::CreateTokenRequest*, v1::CreateTokenReply*) override;
  Reactor* ListTokens(Ctx*, const v1::ListTokensRequest*, v1::ListTokensReply*) override;
  Reactor* RevokeToken(Ctx*, const v1::RevokeTokenRequest*, v1::RevokeTokenReply*) override;
  Reactor* Hold(Ctx*, const v1::JobsRequest*, v1::JobsReply*) override;
  Reactor* Release(Ctx*, const v1::JobsRequest*, v1::JobsReply*) override;
  Reactor* CancelJobs(Ctx*, const v1::JobsRequest*, v1::JobsReply*) override;

 private:
  // Runs `method` of SchedulerService on the pool and finishes the call with its status.
  template <typename Req, typename Rep>
  Reactor* OnPool(grpc::Status (SchedulerService::*method)(grpc::ServerContextBase*, const Req*, Rep*),
                  Ctx* ctx, const Req* req, Rep* reply);

  SchedulerService* const impl_;
  CallPool* const pool_;
};

}  // namespace loom
