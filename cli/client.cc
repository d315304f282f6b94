#include "cli/client.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "common/paths.h"
#include "common/tls/tls.h"
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

StatusOr<std::string> FindToken(const std::string& home) {
  if (const char* env = std::getenv("LOOM_TOKEN"); env && *env) return std::string(env);
  const std::string path = TokenFile(home);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::string();  // loomd will say a token is needed
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition(path + " is readable by others; chmod 600 " + path + " (it holds your token)");
  }
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  return token;
}

StatusOr<Client> Client::Connect(const std::string& server, const std::string& home) {
  LOOM_ASSIGN_OR_RETURN(std::string address, ResolveServer(server, home));
  LOOM_ASSIGN_OR_RETURN(tls::Security security, tls::Security::ForClient(home));
  std::string token;
  if (!security.insecure()) {
    LOOM_ASSIGN_OR_RETURN(token, FindToken(home));
  }
  auto channel = security.Dial(GrpcTarget(address), tls::kLoomdServerName, token);
  return Client(address, v1::Scheduler::NewStub(channel));
}

Status Client::Translate(const grpc::Status& s) const {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return Unavailable("cannot reach loomd at " + address_ +
                       " (is it running? start one with `loom up`, or pass --server)");
  }
  if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    return Unauthenticated("loomd at " + address_ + " refused the credentials: " + s.error_message() +
                           " (token from $LOOM_TOKEN or $LOOM_HOME/token)");
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return Unavailable("loomd at " + address_ + " did not answer in time");
  }
  return FromGrpc(s, "loomd at " + address_);
}

}  // namespace loom::cli
