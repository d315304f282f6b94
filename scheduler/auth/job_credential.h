// Per-attempt job credentials: "job_<id>_<attempt>_<HMAC-SHA256 hex>", keyed by a secret only
// loomd holds (job-credential.key in its home, mode 0600, kept across restarts so running jobs'
// credentials stay valid). loomd puts the credential in every LaunchRequest of that attempt; the
// worker hands it to the job's processes as LOOM_JOB_TOKEN and accepts Exec only with the
// credential of an attempt running on that node now. loomd accepts it for the job's ReportSteps.
#pragma once

#include <string>

#include "common/status.h"

namespace loom::auth {

struct JobAttemptId {
  int64_t job_id = 0;
  int32_t attempt = 0;
};

class JobCredentials {
 public:
  // Reads the secret at `path`, or makes one there.
  static StatusOr<JobCredentials> LoadOrCreate(const std::string& path);
  static JobCredentials ForTesting(std::string secret) { return JobCredentials(std::move(secret)); }

  std::string Issue(int64_t job_id, int32_t attempt) const;
  // The attempt `token` was issued for; UNAUTHENTICATED if loomd did not issue it.
  StatusOr<JobAttemptId> Verify(const std::string& token) const;

 private:
  explicit JobCredentials(std::string secret) : secret_(std::move(secret)) {}
  std::string Mac(int64_t job_id, int32_t attempt) const;
  std::string secret_;
};

}  // namespace loom::auth
