#include "common/tls/tls.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace loom::tls {
namespace {

StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return FailedPrecondition("cannot read " + path +
                              " (make certificates with `loom certs init`, or run with --insecure on loopback)");
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

StatusOr<Security> Security::Load(const std::string& dir, const std::string& stem) {
  Security s;
  s.insecure_ = false;
  LOOM_ASSIGN_OR_RETURN(s.ca_pem_, ReadPem(dir + "/ca.crt"));
  if (!stem.empty()) {
    LOOM_ASSIGN_OR_RETURN(s.cert_pem_, ReadPem(dir + "/" + stem + ".crt"));
    LOOM_ASSIGN_OR_RETURN(s.key_pem_, ReadPem(dir + "/" + stem + ".key"));
  }
  return s;
}

StatusOr<Security> Security::FromFlags(bool insecure, const std::string& dir, const std::string& stem) {
  if (insecure) return Insecure();
  return Load(dir, stem);
}

StatusOr<Security> Security::ForClient(const std::string& home) {
  if (const char* v = std::getenv("LOOM_INSECURE"); v && std::string(v) == "1") return Insecure();
  Security s;
  s.insecure_ = false;
  const char* ca = std::getenv("LOOM_CA_CERT");
  LOOM_ASSIGN_OR_RETURN(s.ca_pem_, ReadPem(ca && *ca ? std::string(ca) : CertsDir(home) + "/ca.crt"));
  return s;
}

std::shared_ptr<grpc::ServerCredentials> Security::ServerCredentials() const {
  if (insecure_) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = ca_pem_;
  options.pem_key_cert_pairs.push_back({key_pem_, cert_pem_});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::Channel> Security::Dial(const std::string& address, const std::string& server_name,
                                              const std::string& bearer_token) const {
  if (insecure_) return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem_;
  options.pem_private_key = key_pem_;
  options.pem_cert_chain = cert_pem_;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(server_name);
  auto credentials = grpc::SslCredentials(options);
  if (!bearer_token.empty()) {
    credentials = grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(bearer_token));
  }
  return grpc::CreateCustomChannel(address, credentials, args);
}

std::string PeerIdentity(const grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth) return "";
  // Present only when the peer sent a certificate, which the CA then verified.
  auto names = auth->FindPropertyValues("x509_common_name");
  if (names.size() != 1) return "";
  return std::string(names[0].data(), names[0].size());
}

bool SecretEquals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool IsLoopbackListen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Status CheckInsecureListen(bool insecure, const std::string& listen) {
  if (insecure && !IsLoopbackListen(listen)) {
    return InvalidArgument("--insecure (plaintext) is allowed only on a loopback address, not " + listen);
  }
  return Status::Ok();
}

}  // namespace loom::tls
