// Transport security for every Loom channel: gRPC's SSL credentials over a cluster CA (certs.h).
//
// - loomd serves TLS and asks for a client certificate; a worker presents its node's, so loomd
//   knows which node speaks. Users present none and authenticate with tokens instead.
// - Workers serve TLS and ask for a client certificate; only loomd's may Launch, Kill and ReadLog.
// - Clients check the server's certificate against the CA under the server's cluster name
//   (LoomdServerName, NodeServerName), not the host they dial.
// - Plaintext only with `insecure`, which listeners refuse on non-loopback addresses.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace loom::tls {

// Certificate common names, the identities the services check.
inline constexpr char kLoomdIdentity[] = "loomd";
inline std::string NodeIdentity(const std::string& node) { return "node:" + node; }
// The DNS names in the certificates, checked by clients in place of the dialled host.
inline constexpr char kLoomdServerName[] = "loomd.loom";
inline std::string NodeServerName(const std::string& node) { return node + ".node.loom"; }
// Every node's certificate also names this: loomd dials workers by address alone, and a node's
// address is what that node itself registered (authenticated by its certificate).
inline constexpr char kAnyNodeServerName[] = "node.loom";

// $LOOM_HOME/certs: where `loom up` keeps its certificates and everything finds them.
inline std::string CertsDir(const std::string& home) { return home + "/certs"; }
inline std::string NodeCertStem(const std::string& node) { return "node-" + node; }

// What one process needs: the CA to check peers, and optionally its own certificate and key.
class Security {
 public:
  // Plaintext (--insecure).
  static Security Insecure() { return Security(); }
  // The CA of `dir`, and `stem`.crt/.key when `stem` is not empty.
  static StatusOr<Security> Load(const std::string& dir, const std::string& stem);
  // Load(dir, stem), or Insecure() when `insecure`.
  static StatusOr<Security> FromFlags(bool insecure, const std::string& dir, const std::string& stem);
  // What a user-side client (CLI, launch agent, a rank's step reporter) trusts: plaintext when
  // $LOOM_INSECURE=1, else the CA at $LOOM_CA_CERT, else CertsDir(home)/ca.crt.
  static StatusOr<Security> ForClient(const std::string& home);

  bool insecure() const { return insecure_; }
  // Server credentials that request (and verify, when given) a client certificate.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  // A channel to `address` whose server must hold a certificate for `server_name`; with
  // `bearer_token`, every call carries "authorization: Bearer <token>" (TLS only).
  std::shared_ptr<grpc::Channel> Dial(const std::string& address, const std::string& server_name,
                                      const std::string& bearer_token = "") const;

 private:
  Security() = default;
  bool insecure_ = true;
  std::string ca_pem_, cert_pem_, key_pem_;
};

// The verified certificate identity of the caller ("loomd", "node:n1"); empty for a caller
// without a certificate (or over plaintext).
std::string PeerIdentity(const grpc::ServerContextBase& ctx);

// Constant-time comparison, for secrets (tokens, credentials).
bool SecretEquals(const std::string& a, const std::string& b);

// Whether a listen address (HOST:PORT) binds loopback only; plaintext is allowed only there.
bool IsLoopbackListen(const std::string& listen);
// InvalidArgument when `insecure` is asked for on a non-loopback `listen`.
Status CheckInsecureListen(bool insecure, const std::string& listen);

}  // namespace loom::tls
