// loom certs: the cluster's certificates (common/tls/certs.h does the work).
#include <cstdio>

#include "cli/commands.h"
#include "common/tls/certs.h"

namespace loom::cli {

int CertsInit(const std::string& dir, const std::vector<std::string>& nodes) {
  if (Status s = tls::InitCertificates(dir, nodes); !s.ok()) return Error(s.message());
  std::printf("Certificates in %s: ca.crt (give to every node and user), loomd.crt/.key, %zu node certificate(s).\n"
              "Keep ca.key secret; it signs every identity in the cluster.\n",
              dir.c_str(), nodes.size());
  return 0;
}

}  // namespace loom::cli
