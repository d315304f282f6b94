#include "cli/client.h"

#include <grpcpp/grpcpp.h>

#include "common/paths.h"
#include "common/tls/tls.h"
#include "scheduler/service/grpc_status.h"

namespace loom::cli {

StatusOr<Client> Client::Connect(const std::string& server, const std::string& home) {
  LOOM_ASSIGN_OR_RETURN(std::string address, ResolveServer(server, home));
  LOOM_ASSIGN_OR_RETURN(tls::Security security, tls::Security::ForClient(home));
  auto channel = security.Dial(address, tls::kLoomdServerName);
  return Client(address, v1::Scheduler::NewStub(channel));
}

Status Client::Translate(const grpc::Status& s) const {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return Unavailable("cannot reach loomd at " + address_ +
                       " (is it running? start one with `loom up`, or pass --server)");
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return Unavailable("loomd at " + address_ + " did not answer in time");
  }
  return FromGrpc(s, "loomd at " + address_);
}

}  // namespace loom::cli
