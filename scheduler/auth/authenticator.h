// Authentication of every call to loomd, in one place: a gRPC AuthMetadataProcessor on loomd's
// TLS credentials. It runs before any handler and rejects a call with UNAUTHENTICATED (the handler
// never runs); the handlers then ask it who called (Authenticator::CallerOf), where the service's
// authorization rules need it.
//
// Why an AuthMetadataProcessor rather than a ServerInterceptor: gRPC's synchronous server
// interceptors cannot end a call with a status of their choosing, and the processor sees the
// TLS peer's verified certificate next to the metadata. It needs secure credentials, which is
// every loomd but a loopback --insecure one; that one has no identities and authenticates nobody.
//
// Why the caller is not recorded in the AuthContext the processor is handed: that context is the
// connection's, not the call's (grpc/grpc#28809). Properties added there stay for every later
// call on the connection: a second token's calls read as the first token's tenant (values[0]),
// and a long-lived channel piles up four properties per call that every lookup then scans
// (0.4 ms per GetJob after a few thousand calls, docs/BENCHMARKS.md "Cost of security"). So the
// processor only checks, and CallerOf reads each call's own credential again: a SHA-256 and a
// lookup in the TokenStore's memory, about a microsecond.
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

// The authenticated caller of a call.
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

class Authenticator final : public grpc::AuthMetadataProcessor {
 public:
  Authenticator(TokenStore* tokens, const JobCredentials* jobs, Clock* clock)
      : tokens_(tokens), jobs_(jobs), clock_(clock) {}
  bool IsBlocking() const override { return false; }  // a SQLite read by primary key
  // Lets the call through only with the credential its RPC needs. Records nothing (see above).
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;
  // Who makes the call `ctx`, as a caller of `kind` (the kind its RPC needs), from the call's own
  // credential and the connection's certificate; UNAUTHENTICATED without a valid one.
  StatusOr<Caller> CallerOf(const grpc::ServerContextBase& ctx, CallerKind kind) const;

 private:
  StatusOr<Caller> Identify(CallerKind kind, const InputMetadata& md, const grpc::AuthContext& connection) const;

  TokenStore* const tokens_;
  const JobCredentials* const jobs_;
  Clock* const clock_;
};

}  // namespace loom::auth
