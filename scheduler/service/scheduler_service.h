// The Scheduler gRPC service: translates RPCs into ControlPlane calls and nothing more.
#pragma once

#include "loom/v1/loom.grpc.pb.h"
#include "scheduler/service/control_plane.h"

namespace loom {

class SchedulerService final : public v1::Scheduler::Service {
 public:
  // `check_node_identity`: worker RPCs must come with the named node's certificate (off only
  // for a plaintext loomd, which has no identities).
  SchedulerService(ControlPlane* cp, bool check_node_identity)
      : cp_(cp), check_node_identity_(check_node_identity) {}

  grpc::Status Submit(grpc::ServerContext*, const v1::SubmitRequest*, v1::SubmitReply*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::Job*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*, v1::ListJobsReply*) override;
  grpc::Status Cancel(grpc::ServerContext*, const v1::CancelRequest*, v1::Job*) override;
  grpc::Status ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*, v1::ListNodesReply*) override;
  grpc::Status ReadLog(grpc::ServerContext*, const v1::ReadLogRequest*, v1::ReadLogReply*) override;
  grpc::Status GetStats(grpc::ServerContext*, const v1::GetStatsRequest*, v1::Stats*) override;
  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest*, v1::RegisterReply*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*, v1::HeartbeatReply*) override;
  grpc::Status ReportJobExit(grpc::ServerContext*, const v1::ReportJobExitRequest*,
                             v1::ReportJobExitReply*) override;
  grpc::Status ReportSteps(grpc::ServerContext*, const v1::ReportStepsRequest*,
                           v1::ReportStepsReply*) override;

 private:
  // A worker RPC naming `node`: a valid name, said by that node's certificate.
  Status CheckNodeCaller(const grpc::ServerContext& ctx, const std::string& node) const;

  ControlPlane* const cp_;
  const bool check_node_identity_;
};

}  // namespace loom
