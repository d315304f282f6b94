#include "scheduler/service/scheduler_service.h"

#include "common/node_name.h"
#include "common/tls/tls.h"
#include "scheduler/service/grpc_status.h"

namespace loom {
namespace {

// Copies a StatusOr's value into an RPC reply or returns its error.
template <typename T>
grpc::Status Reply(StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = std::move(result).value();
  return grpc::Status::OK;
}

}  // namespace

Status SchedulerService::CheckNodeCaller(const grpc::ServerContext& ctx, const std::string& node) const {
  LOOM_RETURN_IF_ERROR(ValidateNodeName(node));
  if (!check_node_identity_) return Status::Ok();
  const std::string peer = tls::PeerIdentity(ctx);
  if (peer == tls::NodeIdentity(node)) return Status::Ok();
  return PermissionDenied((peer.empty() ? std::string("a caller without a node certificate") : "'" + peer + "'") +
                          " may not speak for node " + node);
}

grpc::Status SchedulerService::Submit(grpc::ServerContext*, const v1::SubmitRequest* req,
                                      v1::SubmitReply* reply) {
  auto id = cp_->Submit(req->spec());
  if (!id.ok()) return ToGrpc(id.status());
  reply->set_job_id(*id);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::GetJob(grpc::ServerContext*, const v1::GetJobRequest* req, v1::Job* reply) {
  return Reply(cp_->GetJob(req->job_id()), reply);
}

grpc::Status SchedulerService::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* req,
                                        v1::ListJobsReply* reply) {
  std::vector<v1::JobState> states;
  for (int s : req->states()) states.push_back(static_cast<v1::JobState>(s));
  for (v1::Job& job : cp_->ListJobs(states)) *reply->add_jobs() = std::move(job);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::Cancel(grpc::ServerContext*, const v1::CancelRequest* req, v1::Job* reply) {
  return Reply(cp_->Cancel(req->job_id()), reply);
}

grpc::Status SchedulerService::ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                                         v1::ListNodesReply* reply) {
  for (v1::Node& n : cp_->ListNodes()) *reply->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::ReadLog(grpc::ServerContext*, const v1::ReadLogRequest* req,
                                       v1::ReadLogReply* reply) {
  return Reply(cp_->ReadLog(*req), reply);
}

grpc::Status SchedulerService::GetStats(grpc::ServerContext*, const v1::GetStatsRequest* req,
                                        v1::Stats* reply) {
  return Reply(cp_->GetStats(*req), reply);
}

grpc::Status SchedulerService::ReportSteps(grpc::ServerContext*, const v1::ReportStepsRequest* req,
                                           v1::ReportStepsReply*) {
  return ToGrpc(cp_->ReportSteps(*req));
}

grpc::Status SchedulerService::Register(grpc::ServerContext* ctx, const v1::RegisterRequest* req,
                                        v1::RegisterReply* reply) {
  if (Status s = CheckNodeCaller(*ctx, req->node().name()); !s.ok()) return ToGrpc(s);
  return Reply(cp_->Register(*req), reply);
}

grpc::Status SchedulerService::Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* req,
                                         v1::HeartbeatReply* reply) {
  if (Status s = CheckNodeCaller(*ctx, req->node()); !s.ok()) return ToGrpc(s);
  *reply = cp_->Heartbeat(*req);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::ReportJobExit(grpc::ServerContext* ctx, const v1::ReportJobExitRequest* req,
                                             v1::ReportJobExitReply*) {
  if (Status s = CheckNodeCaller(*ctx, req->node()); !s.ok()) return ToGrpc(s);
  return ToGrpc(cp_->ReportJobExit(*req));
}

}  // namespace loom
