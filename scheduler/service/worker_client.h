// How loomd reaches workers. An interface so the control plane can be tested with a fake and
// loom-sim can plug in a virtual cluster.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "common/tls/tls.h"
#include "scheduler/auth/job_credential.h"
#include "loom/v1/loom.grpc.pb.h"

namespace loom {

class WorkerClient {
 public:
  virtual ~WorkerClient() = default;
  virtual Status Launch(const std::string& address, const v1::LaunchRequest& request) = 0;
  // Kills one attempt's ranks (request.attempt), SIGTERM then SIGKILL after request.grace_ms.
  virtual Status Kill(const std::string& address, const v1::KillRequest& request) = 0;
  virtual StatusOr<v1::ReadLogReply> ReadLog(const std::string& address,
                                             const v1::ReadLogRequest& request) = 0;
};

// gRPC implementation; one channel per worker address, created on first use. Thread-safe.
class GrpcWorkerClient final : public WorkerClient {
 public:
  // `security`: loomd's certificate, presented to workers (only it may Launch, Kill, ReadLog).
  // `jobs`: signs each launched attempt's job credential (LaunchRequest.job_token).
  GrpcWorkerClient(tls::Security security, const auth::JobCredentials* jobs)
      : security_(std::move(security)), jobs_(jobs) {}
  Status Launch(const std::string& address, const v1::LaunchRequest& request) override;
  Status Kill(const std::string& address, const v1::KillRequest& request) override;
  StatusOr<v1::ReadLogReply> ReadLog(const std::string& address,
                                     const v1::ReadLogRequest& request) override;

 private:
  v1::Worker::Stub* StubFor(const std::string& address);

  const tls::Security security_;
  const auth::JobCredentials* const jobs_;
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<v1::Worker::Stub>> stubs_;  // GUARDED_BY(mu_)
};

}  // namespace loom
