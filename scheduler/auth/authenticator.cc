#include "scheduler/auth/authenticator.h"


namespace loom::auth {
namespace {

std::string Find(const grpc::AuthMetadataProcessor::InputMetadata& md, std::string_view key) {
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

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

StatusOr<Caller> Authenticator::Identify(CallerKind kind, const InputMetadata& md,
                                         const grpc::AuthContext& connection) const {
  Caller c;
  switch (kind) {
    case CallerKind::kNode: {
      // Present only when the peer sent a certificate, which the CA then verified.
      auto names = connection.FindPropertyValues("x509_common_name");
      const std::string peer = names.size() == 1 ? std::string(names[0].data(), names[0].size()) : "";
      if (peer.rfind("node:", 0) != 0) return Unauthenticated("worker calls need a node certificate");
      c.kind = CallerKind::kNode;
      c.node = peer.substr(5);
      return c;
    }
    case CallerKind::kJob: {
      const std::string token = Find(md, "loom-job-token");
      if (token.empty()) return Unauthenticated("step reports need the job's credential (LOOM_JOB_TOKEN)");
      LOOM_ASSIGN_OR_RETURN(JobAttemptId attempt, jobs_->Verify(token));
      c.kind = CallerKind::kJob;
      c.job_id = attempt.job_id;
      c.attempt = attempt.attempt;
      return c;
    }
    case CallerKind::kUser:
    case CallerKind::kNone: break;
  }
  const std::string header = Find(md, "authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty()) return Unauthenticated("no token: set LOOM_TOKEN or $LOOM_HOME/token (loom token create)");
  if (header.rfind(kBearer, 0) != 0) return Unauthenticated("the authorization header is not a bearer token");
  LOOM_ASSIGN_OR_RETURN(TokenInfo info, tokens_->Verify(header.substr(kBearer.size()), clock_->NowMs()));
  c.kind = CallerKind::kUser;
  c.tenant = info.tenant;
  c.admin = info.admin;
  c.token_id = info.id;
  return c;
}

grpc::Status Authenticator::Process(const InputMetadata& md, grpc::AuthContext* context, OutputMetadata*,
                                    OutputMetadata*) {
  const std::string method = Find(md, ":path");
  auto caller = Identify(RequiredCaller(method.empty() ? "?" : method), md, *context);
  if (!caller.ok()) return {grpc::StatusCode::UNAUTHENTICATED, caller.status().message()};
  return grpc::Status::OK;
}

StatusOr<Caller> Authenticator::CallerOf(const grpc::ServerContextBase& ctx, CallerKind kind) const {
  auto connection = ctx.auth_context();
  if (!connection) return Unauthenticated("no authentication context (not a TLS call)");
  return Identify(kind, ctx.client_metadata(), *connection);
}

}  // namespace loom::auth
