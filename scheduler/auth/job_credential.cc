#include "scheduler/auth/job_credential.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/tls/tls.h"
#include <sstream>

namespace loom::auth {
namespace {

constexpr size_t kSecretBytes = 32;

std::string Hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

}  // namespace

StatusOr<JobCredentials> JobCredentials::LoadOrCreate(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream s;
    s << in.rdbuf();
    if (s.str().size() != kSecretBytes) return Internal(path + " is damaged (expected " + std::to_string(kSecretBytes) + " bytes)");
    return JobCredentials(s.str());
  }
  unsigned char secret[kSecretBytes];
  if (RAND_bytes(secret, sizeof(secret)) != 1) return Internal("no randomness for the job credential key");
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot write " + tmp);
  const bool ok = write(fd, secret, sizeof(secret)) == static_cast<ssize_t>(sizeof(secret));
  close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot write " + path);
  return JobCredentials(std::string(reinterpret_cast<char*>(secret), sizeof(secret)));
}

std::string JobCredentials::Mac(int64_t job_id, int32_t attempt) const {
  const std::string data = std::to_string(job_id) + "/" + std::to_string(attempt);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &n);
  return Hex(md, n);
}

std::string JobCredentials::Issue(int64_t job_id, int32_t attempt) const {
  return "job_" + std::to_string(job_id) + "_" + std::to_string(attempt) + "_" + Mac(job_id, attempt);
}

StatusOr<JobAttemptId> JobCredentials::Verify(const std::string& token) const {
  long long job = 0;
  int attempt = 0, used = 0;
  if (token.size() > 128 || std::sscanf(token.c_str(), "job_%lld_%d_%n", &job, &attempt, &used) != 2 || used == 0 ||
      job <= 0 || attempt < 0) {
    return Unauthenticated("not a job credential");
  }
  if (!tls::SecretEquals(token.substr(static_cast<size_t>(used)), Mac(job, attempt))) {
    return Unauthenticated("job credential not issued by this loomd");
  }
  return JobAttemptId{job, attempt};
}

}  // namespace loom::auth
