#include "scheduler/service/callback_service.h"

namespace loom {

template <typename Req, typename Rep>
grpc::ServerUnaryReactor* SchedulerCallbackService::OnPool(
    grpc::Status (SchedulerService::*method)(grpc::ServerContextBase*, const Req*, Rep*), Ctx* ctx,
    const Req* req, Rep* reply) {
  Reactor* reactor = ctx->DefaultReactor();
  // ctx, req and reply stay valid until Finish: gRPC frees them only after the call is done.
  pool_->Post([impl = impl_, method, ctx, req, reply, reactor] { reactor->Finish((impl->*method)(ctx, req, reply)); });
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerCallbackService::Heartbeat(Ctx* ctx, const v1::HeartbeatRequest* req,
                                                              v1::HeartbeatReply* reply) {
  if (std::optional<grpc::Status> answered = impl_->TryHeartbeat(ctx, req, reply)) {
    Reactor* reactor = ctx->DefaultReactor();
    reactor->Finish(*answered);
    return reactor;
  }
  return OnPool(&SchedulerService::Heartbeat, ctx, req, reply);
}

#define LOOM_ON_POOL(Method, Req, Rep)                                                        \
  grpc::ServerUnaryReactor* SchedulerCallbackService::Method(Ctx* ctx, const Req* req, Rep* reply) { \
    return OnPool(&SchedulerService::Method, ctx, req, reply);                                \
  }
LOOM_ON_POOL(Submit, v1::SubmitRequest, v1::SubmitReply)
LOOM_ON_POOL(GetJob, v1::GetJobRequest, v1::Job)
LOOM_ON_POOL(ListJobs, v1::ListJobsRequest, v1::ListJobsReply)
LOOM_ON_POOL(Cancel, v1::CancelRequest, v1::Job)
LOOM_ON_POOL(ListNodes, v1::ListNodesRequest, v1::ListNodesReply)
LOOM_ON_POOL(Drain, v1::DrainRequest, v1::DrainReply)
LOOM_ON_POOL(Resume, v1::ResumeRequest, v1::ResumeReply)
LOOM_ON_POOL(ReadLog, v1::ReadLogRequest, v1::ReadLogReply)
LOOM_ON_POOL(GetStats, v1::GetStatsRequest, v1::Stats)
LOOM_ON_POOL(Register, v1::RegisterRequest, v1::RegisterReply)
LOOM_ON_POOL(ReportJobExit, v1::ReportJobExitRequest, v1::ReportJobExitReply)
LOOM_ON_POOL(ReportSteps, v1::ReportStepsRequest, v1::ReportStepsReply)
LOOM_ON_POOL(CreateToken, v1::CreateTokenRequest, v1::CreateTokenReply)
LOOM_ON_POOL(ListTokens, v1::ListTokensRequest, v1::ListTokensReply)
LOOM_ON_POOL(RevokeToken, v1::RevokeTokenRequest, v1::RevokeTokenReply)
LOOM_ON_POOL(Hold, v1::JobsRequest, v1::JobsReply)
LOOM_ON_POOL(Release, v1::JobsRequest, v1::JobsReply)
LOOM_ON_POOL(CancelJobs, v1::JobsRequest, v1::JobsReply)
#undef LOOM_ON_POOL

}  // namespace loom
