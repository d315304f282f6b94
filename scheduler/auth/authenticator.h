// Authentication of every call to loomd, in one place: a gRPC AuthMetadataProcessor on loomd's
// TLS credentials. It runs before any handler, rejects a call with UNAUTHENTICATED (the handler
// never runs), and records who called in the call's AuthContext, where the service's
// authorization rules read it (CallerOf).
//
// Why an AuthMetadataProcessor rather than a ServerInterceptor: gRPC's synchronous server
// interceptors cannot end a call with a status of their choosing, and the processor sees the
// TLS peer's verified certificate next to the metadata. It needs secure credentials, which is
// every loomd but a loopback --insecure one; that one has no identities and authenticates nobody.
//
// Who may call what (RequiredCaller):
//   Register, Heartbeat, ReportJobExit  a node certificate (the service checks it is that node's)
//   ReportSteps                          a job credential (LOOM_JOB_TOKEN) in "loom-job-token"
//   every other RPC                      a user's bearer token ("authorization: Bearer loom_...")
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <string>
#include <string_view>

#include "common/clock.h"
#include "scheduler/auth/job_credential.h"
#include "scheduler/auth/token_store.h"

namespace loom::auth {

enum class CallerKind { kNone, kUser, kNode, kJob };

// What kind of caller the RPC at gRPC path `method` ("/loom.v1.Scheduler/Submit") needs. Pure.
CallerKind RequiredCaller(std::string_view method);

// The authenticated caller of a call, as the processor recorded it.
struct Caller {
  CallerKind kind = CallerKind::kNone;
  std::string tenant;  // kUser
  bool admin = false;  // kUser
  int64_t token_id = 0;
  std::string node;    // kNode
  int64_t job_id = 0;  // kJob
  int32_t attempt = 0;
  // "tenant alice (token 3)", "node n1", "job 7 attempt 1": for audit lines and errors.
  std::string Describe() const;
};
Caller CallerOf(const grpc::ServerContextBase& ctx);

class Authenticator final : public grpc::AuthMetadataProcessor {
 public:
  Authenticator(TokenStore* tokens, const JobCredentials* jobs, Clock* clock)
      : tokens_(tokens), jobs_(jobs), clock_(clock) {}
  bool IsBlocking() const override { return false; }  // a SQLite read by primary key
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  TokenStore* const tokens_;
  const JobCredentials* const jobs_;
  Clock* const clock_;
};

}  // namespace loom::auth
