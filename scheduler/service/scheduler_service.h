// The Scheduler gRPC service: checks who may do what, bounds the request, and translates it into
// ControlPlane calls. Authentication happened before (auth/authenticator.h); authorization lives
// here, so ControlPlane stays free of identities:
//   users     their own tenant's jobs only (submit, see, cancel, read logs); a non-admin may not
//             name another tenant; nodes and stats are visible to all
//   admins    every job and tenant, and tokens
//   nodes     Register, Heartbeat, ReportJobExit as the node their certificate names
//   jobs      ReportSteps for their own job (the attempt's credential)
// Every state-changing call is logged with its caller (audit lines on loomd's stderr).
//
// The methods are the RPCs' bodies, without a threading model: loomd serves them through
// SchedulerCallbackService (callback_service.h), which decides on which thread each runs. They
// take any server context (sync or callback): only its auth context and metadata are read.
#pragma once

#include <optional>

#include "common/clock.h"
#include "loom/v1/loom.grpc.pb.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/token_store.h"
#include "scheduler/config/policy_config.h"
#include "scheduler/service/control_plane.h"

namespace loom {

class SchedulerService final {
 public:
  // `authenticator`: the one installed on loomd's TLS credentials, which says who each call's
  // caller is; null for a plaintext (--insecure, loopback) loomd, which has no identities and
  // treats every caller as an admin. `tokens` may be null when not secure.
  // `admission`: the policy config's caps on each tenant's QoS, priority and pending jobs.
  SchedulerService(ControlPlane* cp, auth::TokenStore* tokens, Clock* clock,
                   const auth::Authenticator* authenticator, sched::AdmissionLimits admission = {})
      : cp_(cp),
        tokens_(tokens),
        clock_(clock),
        authenticator_(authenticator),
        secure_(authenticator != nullptr),
        admission_(std::move(admission)) {}

  grpc::Status Submit(grpc::ServerContextBase*, const v1::SubmitRequest*, v1::SubmitReply*);
  grpc::Status GetJob(grpc::ServerContextBase*, const v1::GetJobRequest*, v1::Job*);
  grpc::Status ListJobs(grpc::ServerContextBase*, const v1::ListJobsRequest*, v1::ListJobsReply*);
  grpc::Status Cancel(grpc::ServerContextBase*, const v1::CancelRequest*, v1::Job*);
  grpc::Status ListNodes(grpc::ServerContextBase*, const v1::ListNodesRequest*, v1::ListNodesReply*);
  grpc::Status Drain(grpc::ServerContextBase*, const v1::DrainRequest*, v1::DrainReply*);
  grpc::Status Resume(grpc::ServerContextBase*, const v1::ResumeRequest*, v1::ResumeReply*);
  grpc::Status ReadLog(grpc::ServerContextBase*, const v1::ReadLogRequest*, v1::ReadLogReply*);
  grpc::Status GetStats(grpc::ServerContextBase*, const v1::GetStatsRequest*, v1::Stats*);
  grpc::Status Register(grpc::ServerContextBase*, const v1::RegisterRequest*, v1::RegisterReply*);
  grpc::Status Heartbeat(grpc::ServerContextBase*, const v1::HeartbeatRequest*, v1::HeartbeatReply*);
  // Heartbeat without blocking (ControlPlane::TryHeartbeat): the status, or nullopt when the
  // heartbeat needs a commit and Heartbeat must be called instead.
  std::optional<grpc::Status> TryHeartbeat(grpc::ServerContextBase*, const v1::HeartbeatRequest*,
                                           v1::HeartbeatReply*);
  grpc::Status ReportJobExit(grpc::ServerContextBase*, const v1::ReportJobExitRequest*,
                             v1::ReportJobExitReply*);
  grpc::Status ReportSteps(grpc::ServerContextBase*, const v1::ReportStepsRequest*,
                           v1::ReportStepsReply*);
  grpc::Status CreateToken(grpc::ServerContextBase*, const v1::CreateTokenRequest*, v1::CreateTokenReply*);
  grpc::Status ListTokens(grpc::ServerContextBase*, const v1::ListTokensRequest*, v1::ListTokensReply*);
  grpc::Status RevokeToken(grpc::ServerContextBase*, const v1::RevokeTokenRequest*, v1::RevokeTokenReply*);
  grpc::Status Hold(grpc::ServerContextBase*, const v1::JobsRequest*, v1::JobsReply*);
  grpc::Status Release(grpc::ServerContextBase*, const v1::JobsRequest*, v1::JobsReply*);
  grpc::Status CancelJobs(grpc::ServerContextBase*, const v1::JobsRequest*, v1::JobsReply*);

 private:
  // The calling user (an admin stand-in when not secure); UNAUTHENTICATED for anyone else.
  StatusOr<auth::Caller> User(const grpc::ServerContextBase& ctx) const;
  StatusOr<auth::Caller> Admin(const grpc::ServerContextBase& ctx) const;
  // The job, if `caller` may see it.
  StatusOr<v1::Job> VisibleJob(const auth::Caller& caller, int64_t job_id) const;
  // A worker RPC naming `node`: a valid name, said by that node's certificate.
  Status CheckNodeCaller(const grpc::ServerContextBase& ctx, const std::string& node) const;
  // A heartbeat's caller and figures.
  Status CheckHeartbeat(const grpc::ServerContextBase& ctx, const v1::HeartbeatRequest& req) const;
  void Audit(const auth::Caller& caller, const std::string& what, const Status& result) const;
  // Hold, Release and CancelJobs: the caller must own every job named (as Cancel); `what` names
  // the audit line.
  template <typename Change>
  grpc::Status ChangeJobs(grpc::ServerContextBase* ctx, const v1::JobsRequest* req, v1::JobsReply* reply,
                          const char* what, Change change);

  ControlPlane* const cp_;
  auth::TokenStore* const tokens_;
  Clock* const clock_;
  const auth::Authenticator* const authenticator_;
  const bool secure_;
  const sched::AdmissionLimits admission_;
};

}  // namespace loom
