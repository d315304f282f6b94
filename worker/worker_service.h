// The Worker gRPC service: translates loomd's and the launch agent's calls into JobRunner calls.
#pragma once

#include "loom/v1/loom.grpc.pb.h"
#include "worker/job_runner.h"

namespace loom::worker {

class WorkerService final : public v1::Worker::Service {
 public:
  // `check_loomd`: Launch, Kill and ReadLog only from loomd's certificate (off only for a
  // plaintext worker, which has no identities).
  WorkerService(JobRunner* runner, bool check_loomd) : runner_(runner), check_loomd_(check_loomd) {}

  grpc::Status Launch(grpc::ServerContext*, const v1::LaunchRequest*, v1::LaunchReply*) override;
  grpc::Status Kill(grpc::ServerContext*, const v1::KillRequest*, v1::KillReply*) override;
  grpc::Status ReadLog(grpc::ServerContext*, const v1::ReadLogRequest*, v1::ReadLogReply*) override;
  grpc::Status Exec(grpc::ServerContext*, const v1::ExecRequest*,
                    grpc::ServerWriter<v1::ExecChunk>*) override;

 private:
  Status CheckLoomd(const grpc::ServerContext& ctx) const;

  JobRunner* const runner_;
  const bool check_loomd_;
};

}  // namespace loom::worker
