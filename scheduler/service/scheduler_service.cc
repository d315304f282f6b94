#include "scheduler/service/scheduler_service.h"

#include <cstdio>

#include "common/node_name.h"
#include "common/tls/tls.h"
#include "scheduler/auth/validate.h"
#include "scheduler/service/grpc_status.h"

namespace loom {
namespace {

// Copies a StatusOr's value into an RPC reply or returns its error.
template <typename T>
grpc::Status Reply(StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = std::move(result).value();
  return grpc::Status::OK;
}

bool Owns(const auth::Caller& caller, const v1::Job& job) {
  return caller.admin || job.spec().tenant() == caller.tenant;
}

v1::Token ToProto(const auth::TokenInfo& t) {
  v1::Token p;
  p.set_id(t.id);
  p.set_tenant(t.tenant);
  p.set_admin(t.admin);
  p.set_created_ms(t.created_ms);
  p.set_expires_ms(t.expires_ms);
  p.set_revoked(t.revoked);
  return p;
}

// The tenant's caps (policy config): RESOURCE_EXHAUSTED for a full queue, PERMISSION_DENIED
// for a QoS or priority above what the tenant may ask for.
Status CheckAdmission(const v1::JobSpec& spec, const sched::TenantLimits& limits, int pending) {
  if (limits.max_qos && spec.qos() > *limits.max_qos) {
    return PermissionDenied("tenant " + spec.tenant() + " may ask for QoS up to " + std::to_string(*limits.max_qos) +
                            ", not " + std::to_string(spec.qos()));
  }
  if (limits.max_priority && spec.priority() > *limits.max_priority) {
    return PermissionDenied("tenant " + spec.tenant() + " may ask for priority up to " +
                            std::to_string(*limits.max_priority) + ", not " + std::to_string(spec.priority()));
  }
  if (limits.max_pending_jobs > 0 && pending >= limits.max_pending_jobs) {
    return ResourceExhausted("tenant " + spec.tenant() + " already has " + std::to_string(pending) +
                             " pending jobs (its cap is " + std::to_string(limits.max_pending_jobs) + ")");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<auth::Caller> SchedulerService::User(const grpc::ServerContextBase& ctx) const {
  if (!secure_) {
    auth::Caller local;
    local.kind = auth::CallerKind::kUser;
    local.admin = true;
    local.tenant = "(insecure)";
    return local;
  }
  return authenticator_->CallerOf(ctx, auth::CallerKind::kUser);
}

StatusOr<auth::Caller> SchedulerService::Admin(const grpc::ServerContextBase& ctx) const {
  LOOM_ASSIGN_OR_RETURN(auth::Caller c, User(ctx));
  if (!c.admin) return PermissionDenied("only an admin token may do this (tenant " + c.tenant + " is not admin)");
  return c;
}

StatusOr<v1::Job> SchedulerService::VisibleJob(const auth::Caller& caller, int64_t job_id) const {
  LOOM_ASSIGN_OR_RETURN(v1::Job job, cp_->GetJob(job_id));
  if (!Owns(caller, job)) {
    return PermissionDenied("job " + std::to_string(job_id) + " belongs to another tenant than " + caller.tenant);
  }
  return job;
}

Status SchedulerService::CheckNodeCaller(const grpc::ServerContextBase& ctx, const std::string& node) const {
  LOOM_RETURN_IF_ERROR(ValidateNodeName(node));
  if (!secure_) return Status::Ok();
  const std::string peer = tls::PeerIdentity(ctx);
  if (peer == tls::NodeIdentity(node)) return Status::Ok();
  return PermissionDenied((peer.empty() ? std::string("a caller without a node certificate") : "'" + peer + "'") +
                          " may not speak for node " + node);
}

void SchedulerService::Audit(const auth::Caller& caller, const std::string& what, const Status& result) const {
  std::fprintf(stderr, "loomd: audit: %s: %s: %s\n", caller.Describe().c_str(), what.c_str(),
               result.ok() ? "ok" : result.ToString().c_str());
}

grpc::Status SchedulerService::Submit(grpc::ServerContextBase* ctx, const v1::SubmitRequest* req,
                                      v1::SubmitReply* reply) {
  auto caller = User(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  v1::JobSpec spec = req->spec();
  Status s = auth::ValidateJobSpec(spec);
  // A dependency may name only jobs the caller may see (an unknown one: NOT_FOUND).
  for (const v1::Dependency& d : spec.dependencies()) {
    if (!s.ok() || d.type() == v1::SINGLETON) continue;
    if (auto dep = VisibleJob(*caller, d.job_id()); !dep.ok()) {
      s = Status(dep.status().code(), "dependency on job " + std::to_string(d.job_id()) + ": " + dep.status().message());
    }
  }
  if (s.ok()) {
    // A job's tenant is its token's; only an admin may charge another tenant.
    if (spec.tenant().empty() && secure_) spec.set_tenant(caller->tenant);
    if (spec.tenant() != caller->tenant && !caller->admin) {
      s = PermissionDenied("tenant " + caller->tenant + " may not submit as tenant " + spec.tenant());
    }
  }
  if (s.ok()) {
    const sched::TenantLimits& limits = admission_.For(spec.tenant());
    int pending = 0;
    if (limits.max_pending_jobs > 0) {  // a scan, paid only where a cap is configured
      for (const v1::Job& j : cp_->ListJobs({v1::PENDING})) pending += j.spec().tenant() == spec.tenant();
    }
    s = CheckAdmission(spec, limits, pending);
  }
  int64_t id = 0;
  if (s.ok()) {
    auto submitted = cp_->Submit(spec);
    s = submitted.status();
    if (s.ok()) id = *submitted;
  }
  Audit(*caller, "submit " + (s.ok() ? "job " + std::to_string(id) : "'" + spec.name().substr(0, 64) + "'") +
                     " as tenant " + spec.tenant().substr(0, 64), s);
  if (!s.ok()) return ToGrpc(s);
  reply->set_job_id(id);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::GetJob(grpc::ServerContextBase* ctx, const v1::GetJobRequest* req, v1::Job* reply) {
  auto caller = User(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  return Reply(VisibleJob(*caller, req->job_id()), reply);
}

grpc::Status SchedulerService::ListJobs(grpc::ServerContextBase* ctx, const v1::ListJobsRequest* req,
                                        v1::ListJobsReply* reply) {
  auto caller = User(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  v1::ListJobsRequest request = *req;
  if (!caller->admin) {  // a tenant's own jobs, filtered in the query so that pages stay full
    if (!request.tenant().empty() && request.tenant() != caller->tenant) {
      return ToGrpc(PermissionDenied("tenant " + caller->tenant + " may list only its own jobs, not " +
                                     request.tenant().substr(0, 64) + "'s"));
    }
    request.set_tenant(caller->tenant);
  }
  auto page = cp_->ListJobsPage(request);
  if (!page.ok()) return ToGrpc(page.status());
  // Another tenant's jobs are left out of the page (it may come back shorter than the limit; the
  // page token still marks where the next one starts).
  for (v1::Job& job : *page->mutable_jobs()) {
    if (Owns(*caller, job)) *reply->add_jobs() = std::move(job);
  }
  reply->set_next_page_token(page->next_page_token());
  return grpc::Status::OK;
}

grpc::Status SchedulerService::Cancel(grpc::ServerContextBase* ctx, const v1::CancelRequest* req, v1::Job* reply) {
  auto caller = User(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  StatusOr<v1::Job> job = VisibleJob(*caller, req->job_id());
  if (job.ok()) job = cp_->Cancel(req->job_id());
  Audit(*caller, "cancel job " + std::to_string(req->job_id()), job.status());
  return Reply(std::move(job), reply);
}

template <typename Change>
grpc::Status SchedulerService::ChangeJobs(grpc::ServerContextBase* ctx, const v1::JobsRequest* req,
                                          v1::JobsReply* reply, const char* what, Change change) {
  auto caller = User(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (req->jobs_size() == 0) return ToGrpc(InvalidArgument(std::string("name at least one job to ") + what));
  if (req->jobs_size() > 10000) return ToGrpc(InvalidArgument("at most 10000 jobs per call"));
  std::string names;
  Status s = Status::Ok();
  // An array's tasks share its tenant: the array's own row (its first task) decides.
  for (const v1::JobRef& ref : req->jobs()) {
    names += " " + std::to_string(ref.job_id()) + (ref.has_array_task() ? "_" + std::to_string(ref.array_task()) : "");
    if (s.ok()) s = VisibleJob(*caller, ref.job_id()).status();
  }
  StatusOr<std::vector<v1::Job>> jobs = s;
  if (s.ok()) jobs = change(std::vector<v1::JobRef>(req->jobs().begin(), req->jobs().end()));
  Audit(*caller, std::string(what) + names.substr(0, 256), jobs.status());
  if (!jobs.ok()) return ToGrpc(jobs.status());
  for (v1::Job& j : *jobs) *reply->add_jobs() = std::move(j);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::Hold(grpc::ServerContextBase* ctx, const v1::JobsRequest* req, v1::JobsReply* reply) {
  return ChangeJobs(ctx, req, reply, "hold", [&](const std::vector<v1::JobRef>& refs) { return cp_->Hold(refs); });
}

grpc::Status SchedulerService::Release(grpc::ServerContextBase* ctx, const v1::JobsRequest* req, v1::JobsReply* reply) {
  return ChangeJobs(ctx, req, reply, "release", [&](const std::vector<v1::JobRef>& refs) { return cp_->Release(refs); });
}

grpc::Status SchedulerService::CancelJobs(grpc::ServerContextBase* ctx, const v1::JobsRequest* req, v1::JobsReply* reply) {
  return ChangeJobs(ctx, req, reply, "cancel", [&](const std::vector<v1::JobRef>& refs) { return cp_->CancelJobs(refs); });
}

grpc::Status SchedulerService::ListNodes(grpc::ServerContextBase* ctx, const v1::ListNodesRequest*,
                                         v1::ListNodesReply* reply) {
  if (auto caller = User(*ctx); !caller.ok()) return ToGrpc(caller.status());
  for (v1::Node& n : cp_->ListNodes()) *reply->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::Drain(grpc::ServerContextBase* ctx, const v1::DrainRequest* req,
                                     v1::DrainReply* reply) {
  auto caller = Admin(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto nodes = cp_->Drain(*req);
  Audit(*caller, "drain", nodes.status());
  if (!nodes.ok()) return ToGrpc(nodes.status());
  for (v1::Node& n : *nodes) *reply->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::Resume(grpc::ServerContextBase* ctx, const v1::ResumeRequest* req,
                                      v1::ResumeReply* reply) {
  auto caller = Admin(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  auto nodes = cp_->Resume(*req);
  Audit(*caller, "resume", nodes.status());
  if (!nodes.ok()) return ToGrpc(nodes.status());
  for (v1::Node& n : *nodes) *reply->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::ReadLog(grpc::ServerContextBase* ctx, const v1::ReadLogRequest* req,
                                       v1::ReadLogReply* reply) {
  auto caller = User(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (Status s = auth::ValidateReadLog(*req); !s.ok()) return ToGrpc(s);
  if (auto job = VisibleJob(*caller, req->job_id()); !job.ok()) return ToGrpc(job.status());
  return Reply(cp_->ReadLog(*req), reply);
}

grpc::Status SchedulerService::GetStats(grpc::ServerContextBase* ctx, const v1::GetStatsRequest* req,
                                        v1::Stats* reply) {
  if (auto caller = User(*ctx); !caller.ok()) return ToGrpc(caller.status());
  if (req->window_ms() < 0 || req->end_ms() < 0 || req->window_ms() > 100LL * 366 * 86400 * 1000) {
    return ToGrpc(InvalidArgument("window_ms and end_ms must be between 0 and 100 years"));
  }
  return Reply(cp_->GetStats(*req), reply);
}

grpc::Status SchedulerService::ReportSteps(grpc::ServerContextBase* ctx, const v1::ReportStepsRequest* req,
                                           v1::ReportStepsReply*) {
  if (secure_) {
    auto caller = authenticator_->CallerOf(*ctx, auth::CallerKind::kJob);
    if (!caller.ok()) return ToGrpc(caller.status());
    if (caller->job_id != req->job_id()) {
      return ToGrpc(PermissionDenied("the credential of job " + std::to_string(caller->job_id) +
                                     " may not report for job " + std::to_string(req->job_id())));
    }
  }
  if (Status s = auth::ValidateSteps(*req); !s.ok()) return ToGrpc(s);
  return ToGrpc(cp_->ReportSteps(*req));
}

grpc::Status SchedulerService::Register(grpc::ServerContextBase* ctx, const v1::RegisterRequest* req,
                                        v1::RegisterReply* reply) {
  Status s = CheckNodeCaller(*ctx, req->node().name());
  if (s.ok()) s = auth::ValidateNode(req->node());
  auth::Caller node;
  node.kind = auth::CallerKind::kNode;
  node.node = req->node().name().substr(0, kMaxNodeName);
  if (s.ok()) {
    auto registered = cp_->Register(*req);
    s = registered.status();
    if (s.ok()) *reply = *registered;
  }
  Audit(node, "register at " + req->node().address().substr(0, 256), s);
  return ToGrpc(s);
}

Status SchedulerService::CheckHeartbeat(const grpc::ServerContextBase& ctx, const v1::HeartbeatRequest& req) const {
  LOOM_RETURN_IF_ERROR(CheckNodeCaller(ctx, req.node()));
  return auth::ValidateGpus(req.gpus());
}

grpc::Status SchedulerService::Heartbeat(grpc::ServerContextBase* ctx, const v1::HeartbeatRequest* req,
                                         v1::HeartbeatReply* reply) {
  if (Status s = CheckHeartbeat(*ctx, *req); !s.ok()) return ToGrpc(s);
  *reply = cp_->Heartbeat(*req);
  return grpc::Status::OK;
}

std::optional<grpc::Status> SchedulerService::TryHeartbeat(grpc::ServerContextBase* ctx,
                                                           const v1::HeartbeatRequest* req,
                                                           v1::HeartbeatReply* reply) {
  if (Status s = CheckHeartbeat(*ctx, *req); !s.ok()) return ToGrpc(s);
  auto answered = cp_->TryHeartbeat(*req);
  if (!answered) return std::nullopt;
  *reply = std::move(*answered);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::ReportJobExit(grpc::ServerContextBase* ctx, const v1::ReportJobExitRequest* req,
                                             v1::ReportJobExitReply*) {
  Status s = CheckNodeCaller(*ctx, req->node());
  if (s.ok() && req->reason().size() > 1024) s = InvalidArgument("exit reason longer than 1024 characters");
  if (s.ok()) s = cp_->ReportJobExit(*req);
  auth::Caller node;
  node.kind = auth::CallerKind::kNode;
  node.node = req->node().substr(0, kMaxNodeName);
  Audit(node, "exit of job " + std::to_string(req->job_id()) + " code " + std::to_string(req->exit_code()), s);
  return ToGrpc(s);
}

grpc::Status SchedulerService::CreateToken(grpc::ServerContextBase* ctx, const v1::CreateTokenRequest* req,
                                           v1::CreateTokenReply* reply) {
  auto caller = Admin(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!tokens_) return ToGrpc(FailedPrecondition("a plaintext loomd has no tokens"));
  if (req->expires_in_s() < 0 || req->expires_in_s() > 10LL * 366 * 86400) {
    return ToGrpc(InvalidArgument("expiry must be between 0 (never) and 10 years"));
  }
  const int64_t now = clock_->NowMs();
  auto made = tokens_->Create(req->tenant(), req->admin(), now, req->expires_in_s() > 0 ? now + req->expires_in_s() * 1000 : 0);
  Audit(*caller, "create " + std::string(req->admin() ? "admin " : "") + "token for tenant " + req->tenant().substr(0, 64) +
                     (made.ok() ? " (token " + std::to_string(made->first.id) + ")" : ""),
        made.status());
  if (!made.ok()) return ToGrpc(made.status());
  *reply->mutable_token() = ToProto(made->first);
  reply->set_secret(made->second);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::ListTokens(grpc::ServerContextBase* ctx, const v1::ListTokensRequest*,
                                          v1::ListTokensReply* reply) {
  auto caller = Admin(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!tokens_) return ToGrpc(FailedPrecondition("a plaintext loomd has no tokens"));
  for (const auth::TokenInfo& t : tokens_->List()) *reply->add_tokens() = ToProto(t);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::RevokeToken(grpc::ServerContextBase* ctx, const v1::RevokeTokenRequest* req,
                                           v1::RevokeTokenReply*) {
  auto caller = Admin(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!tokens_) return ToGrpc(FailedPrecondition("a plaintext loomd has no tokens"));
  Status s = tokens_->Revoke(req->id());
  Audit(*caller, "revoke token " + std::to_string(req->id()), s);
  return ToGrpc(s);
}

}  // namespace loom
