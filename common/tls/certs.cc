#include "common/tls/certs.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "common/node_name.h"
#include "common/tls/tls.h"

namespace loom::tls {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;
using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

constexpr long kCaDays = 3650, kLeafDays = 825;

Status OpenSslError(const std::string& what) {
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  return Internal(what + ": " + buf);
}

Status WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Internal("cannot write " + tmp);
  fchmod(fd, mode);  // regardless of the umask
  const bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot write " + path);
  return Status::Ok();
}

template <typename F>
StatusOr<std::string> Pem(F write) {
  Bio bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || write(bio.get()) != 1) return OpenSslError("PEM encoding");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

StatusOr<Key> ReadKey(const std::string& path) {
  Bio bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!bio) return FailedPrecondition("cannot read " + path);
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) return OpenSslError("reading " + path);
  return key;
}

StatusOr<Cert> ReadCert(const std::string& path) {
  Bio bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!bio) return FailedPrecondition("cannot read " + path);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) return OpenSslError("reading " + path);
  return cert;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return OpenSslError("certificate extension " + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::Ok() : OpenSslError("certificate extension " + value);
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (self-signed when
// `issuer` is null). A leaf names `dns_name` and may serve and connect.
StatusOr<Cert> MakeCert(EVP_PKEY* key, const std::string& common_name, const std::string& dns_name,
                        X509* issuer, EVP_PKEY* issuer_key) {
  Cert cert(X509_new(), X509_free);
  if (!cert) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return OpenSslError("RAND_bytes");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * (issuer ? kLeafDays : kCaDays));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Loom"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : cert.get();
  if (!issuer) {
    LOOM_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    LOOM_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    LOOM_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
    LOOM_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
    LOOM_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth"));
    LOOM_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_subject_alt_name, "DNS:" + dns_name));
  }
  LOOM_RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return OpenSslError("signing " + common_name);
  return cert;
}

StatusOr<Key> NewKey() {
  Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return OpenSslError("generating a key");
  return key;
}

Status WriteKeyAndCert(const std::string& stem, EVP_PKEY* key, X509* cert) {
  LOOM_ASSIGN_OR_RETURN(std::string key_pem, Pem([&](BIO* b) {
                          return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
                        }));
  LOOM_ASSIGN_OR_RETURN(std::string cert_pem, Pem([&](BIO* b) { return PEM_write_bio_X509(b, cert); }));
  LOOM_RETURN_IF_ERROR(WriteFile(stem + ".key", key_pem, 0600));
  return WriteFile(stem + ".crt", cert_pem, 0644);
}

Status IssueIfMissing(const std::string& dir, const std::string& stem, const std::string& common_name,
                      const std::string& dns_name, X509* ca, EVP_PKEY* ca_key) {
  const std::string base = dir + "/" + stem;
  if (std::filesystem::exists(base + ".crt") && std::filesystem::exists(base + ".key")) return Status::Ok();
  LOOM_ASSIGN_OR_RETURN(Key key, NewKey());
  LOOM_ASSIGN_OR_RETURN(Cert cert, MakeCert(key.get(), common_name, dns_name, ca, ca_key));
  return WriteKeyAndCert(base, key.get(), cert.get());
}

}  // namespace

Status InitCertificates(const std::string& dir, const std::vector<std::string>& nodes) {
  for (const std::string& node : nodes) LOOM_RETURN_IF_ERROR(ValidateNodeName(node));  // before any file
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir + ": " + ec.message());
  // The directory stays readable: ranks read ca.crt (public); private keys are 0600 each.
  const std::string ca_base = dir + "/ca";
  if (!std::filesystem::exists(ca_base + ".crt")) {
    LOOM_ASSIGN_OR_RETURN(Key key, NewKey());
    LOOM_ASSIGN_OR_RETURN(Cert cert, MakeCert(key.get(), "Loom cluster CA", "", nullptr, key.get()));
    LOOM_RETURN_IF_ERROR(WriteKeyAndCert(ca_base, key.get(), cert.get()));
  }
  LOOM_ASSIGN_OR_RETURN(Cert ca, ReadCert(ca_base + ".crt"));
  LOOM_ASSIGN_OR_RETURN(Key ca_key, ReadKey(ca_base + ".key"));
  LOOM_RETURN_IF_ERROR(IssueIfMissing(dir, kLoomdIdentity, kLoomdIdentity, kLoomdServerName, ca.get(), ca_key.get()));
  for (const std::string& node : nodes) {
    LOOM_RETURN_IF_ERROR(IssueIfMissing(dir, NodeCertStem(node), NodeIdentity(node),
                                        NodeServerName(node) + ",DNS:" + kAnyNodeServerName, ca.get(), ca_key.get()));
  }
  return Status::Ok();
}

}  // namespace loom::tls
