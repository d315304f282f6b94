#include "scheduler/auth/authenticator.h"

#include "common/tls/tls.h"

namespace loom::auth {
namespace {

constexpr char kTenant[] = "loom.tenant", kAdmin[] = "loom.admin", kTokenId[] = "loom.token_id",
               kJob[] = "loom.job", kAttempt[] = "loom.attempt", kKind[] = "loom.caller";

std::string Property(const grpc::AuthContext& ctx, const char* name) {
  auto values = ctx.FindPropertyValues(name);
  return values.empty() ? "" : std::string(values[0].data(), values[0].size());
}

std::string Find(const grpc::AuthMetadataProcessor::InputMetadata& md, std::string_view key) {
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

grpc::Status Denied(const std::string& why) { return {grpc::StatusCode::UNAUTHENTICATED, why}; }

}  // namespace

CallerKind RequiredCaller(std::string_view method) {
  constexpr std::string_view kScheduler = "/loom.v1.Scheduler/";
  if (method.substr(0, kScheduler.size()) != kScheduler) return CallerKind::kUser;
  const std::string_view rpc = method.substr(kScheduler.size());
  if (rpc == "Register" || rpc == "Heartbeat" || rpc == "ReportJobExit") return CallerKind::kNode;
  if (rpc == "ReportSteps") return CallerKind::kJob;
  return CallerKind::kUser;
}

std::string Caller::Describe() const {
  switch (kind) {
    case CallerKind::kUser:
      return std::string(admin ? "admin " : "") + "tenant " + tenant + " (token " + std::to_string(token_id) + ")";
    case CallerKind::kNode: return "node " + node;
    case CallerKind::kJob: return "job " + std::to_string(job_id) + " attempt " + std::to_string(attempt);
    case CallerKind::kNone: break;
  }
  return "an unauthenticated caller";
}

Caller CallerOf(const grpc::ServerContextBase& ctx) {
  Caller c;
  auto auth = ctx.auth_context();
  if (!auth) return c;
  const std::string kind = Property(*auth, kKind);
  if (kind == "user") {
    c.kind = CallerKind::kUser;
    c.tenant = Property(*auth, kTenant);
    c.admin = Property(*auth, kAdmin) == "1";
    c.token_id = std::atoll(Property(*auth, kTokenId).c_str());
  } else if (kind == "job") {
    c.kind = CallerKind::kJob;
    c.job_id = std::atoll(Property(*auth, kJob).c_str());
    c.attempt = std::atoi(Property(*auth, kAttempt).c_str());
  } else if (kind == "node") {
    c.kind = CallerKind::kNode;
    c.node = tls::PeerIdentity(ctx).substr(5);  // "node:<name>"
  }
  return c;
}

grpc::Status Authenticator::Process(const InputMetadata& md, grpc::AuthContext* context, OutputMetadata* consumed,
                                    OutputMetadata*) {
  const std::string method = Find(md, ":path");
  switch (RequiredCaller(method.empty() ? "?" : method)) {
    case CallerKind::kNode: {
      auto names = context->FindPropertyValues("x509_common_name");
      const std::string peer = names.size() == 1 ? std::string(names[0].data(), names[0].size()) : "";
      if (peer.rfind("node:", 0) != 0) return Denied("worker calls need a node certificate");
      context->AddProperty(kKind, "node");
      return grpc::Status::OK;
    }
    case CallerKind::kJob: {
      const std::string token = Find(md, "loom-job-token");
      if (token.empty()) return Denied("step reports need the job's credential (LOOM_JOB_TOKEN)");
      auto attempt = jobs_->Verify(token);
      if (!attempt.ok()) return Denied(attempt.status().message());
      context->AddProperty(kKind, "job");
      context->AddProperty(kJob, std::to_string(attempt->job_id));
      context->AddProperty(kAttempt, std::to_string(attempt->attempt));
      consumed->insert({"loom-job-token", token});
      return grpc::Status::OK;
    }
    case CallerKind::kUser:
    case CallerKind::kNone: break;
  }
  const std::string header = Find(md, "authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty()) return Denied("no token: set LOOM_TOKEN or $LOOM_HOME/token (loom token create)");
  if (header.rfind(kBearer, 0) != 0) return Denied("the authorization header is not a bearer token");
  auto info = tokens_->Verify(header.substr(kBearer.size()), clock_->NowMs());
  if (!info.ok()) return Denied(info.status().message());
  context->AddProperty(kKind, "user");
  context->AddProperty(kTenant, info->tenant);
  context->AddProperty(kAdmin, info->admin ? "1" : "0");
  context->AddProperty(kTokenId, std::to_string(info->id));
  consumed->insert({"authorization", header});
  return grpc::Status::OK;
}

}  // namespace loom::auth
