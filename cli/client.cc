#include "cli/client.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>

#include "common/paths.h"
#include "scheduler/service/grpc_status.h"

namespace loom::cli {

std::string GrpcTarget(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return address;
  std::string host = address.substr(0, colon);
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return "ipv4:" + address;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']' &&
      inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1) {
    return "ipv6:" + address;
  }
  return address;
}

StatusOr<Client> Client::Connect(const std::string& server, const std::string& home) {
  LOOM_ASSIGN_OR_RETURN(std::string address, ResolveServer(server, home));
  auto channel = grpc::CreateChannel(GrpcTarget(address), grpc::InsecureChannelCredentials());
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
