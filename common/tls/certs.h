// A cluster's certificates: one CA, loomd's certificate and one per node, made with OpenSSL
// (EC P-256, SHA-256). Identities live in the certificates' common names (tls.h's *Identity), and
// each certificate also names a synthetic DNS name that clients check instead of the host they
// dial, so a worker reached at any address must prove it is the node loomd meant to call.
//
// Layout of a certificate directory (private keys mode 0600):
//   ca.crt ca.key            the cluster CA; ca.key signs everything else and must stay secret
//   loomd.crt loomd.key      loomd's server and client certificate
//   node-<name>.crt .key     one per node
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace loom::tls {

// Creates the CA in `dir` unless it exists, then loomd's certificate and one per node in `nodes`
// unless present. Idempotent: existing files are kept, so adding a node later reuses the CA.
// Node names must pass ValidateNodeName.
Status InitCertificates(const std::string& dir, const std::vector<std::string>& nodes);

}  // namespace loom::tls
