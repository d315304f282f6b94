// The CLI's connection to loomd: finds it, bounds every call, and turns failures into the one-line
// errors a user sees.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "loom/v1/loom.grpc.pb.h"

namespace loom::cli {

// The gRPC target for a HOST:PORT address. An IP literal gets gRPC's ipv4:/ipv6: scheme, so the
// channel skips the DNS resolver (and its c-ares set-up) that a bare address goes through; names
// and addresses that already carry a scheme are left as they are.
std::string GrpcTarget(const std::string& address);
// The user's token: $LOOM_TOKEN, else the first line of $LOOM_HOME/token (which must be mode
// 0600); empty when neither exists.
StatusOr<std::string> FindToken(const std::string& home);

class Client {
 public:
  // `server` may be empty: $LOOM_SERVER, then $LOOM_HOME/loomd.addr. TLS with the CA of
  // tls::Security::ForClient (plaintext with $LOOM_INSECURE=1, which `loom --insecure` sets).
  static StatusOr<Client> Connect(const std::string& server, const std::string& home);

  const std::string& address() const { return address_; }
  v1::Scheduler::Stub* stub() { return stub_.get(); }

  // Runs one RPC with a deadline; UNAVAILABLE becomes "loomd is not running at ...".
  template <typename Req, typename Reply, typename Method>
  Status Call(Method method, const Req& req, Reply* reply);

 private:
  Client(std::string address, std::unique_ptr<v1::Scheduler::Stub> stub)
      : address_(std::move(address)), stub_(std::move(stub)) {}
  Status Translate(const grpc::Status& s) const;

  std::string address_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
};

template <typename Req, typename Reply, typename Method>
Status Client::Call(Method method, const Req& req, Reply* reply) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return Translate((stub_.get()->*method)(&ctx, req, reply));
}

}  // namespace loom::cli
