#include "scheduler/service/scheduler_service.h"

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

// Copies the nodes a Drain or Resume changed into its reply, or returns its error.
template <typename ReplyT>
grpc::Status NodesReply(StatusOr<std::vector<v1::Node>> nodes, ReplyT* reply) {
  if (!nodes.ok()) return ToGrpc(nodes.status());
  for (v1::Node& n : *nodes) *reply->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

}  // namespace

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
  return Reply(cp_->ListJobsPage(*req), reply);
}

grpc::Status SchedulerService::Cancel(grpc::ServerContext*, const v1::CancelRequest* req, v1::Job* reply) {
  return Reply(cp_->Cancel(req->job_id()), reply);
}

grpc::Status SchedulerService::ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                                         v1::ListNodesReply* reply) {
  for (v1::Node& n : cp_->ListNodes()) *reply->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::Drain(grpc::ServerContext*, const v1::DrainRequest* req,
                                     v1::DrainReply* reply) {
  return NodesReply(cp_->Drain(*req), reply);
}

grpc::Status SchedulerService::Resume(grpc::ServerContext*, const v1::ResumeRequest* req,
                                      v1::ResumeReply* reply) {
  return NodesReply(cp_->Resume(*req), reply);
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

grpc::Status SchedulerService::Register(grpc::ServerContext*, const v1::RegisterRequest* req,
                                        v1::RegisterReply* reply) {
  return Reply(cp_->Register(*req), reply);
}

grpc::Status SchedulerService::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* req,
                                         v1::HeartbeatReply* reply) {
  *reply = cp_->Heartbeat(*req);
  return grpc::Status::OK;
}

grpc::Status SchedulerService::ReportJobExit(grpc::ServerContext*, const v1::ReportJobExitRequest* req,
                                             v1::ReportJobExitReply*) {
  return ToGrpc(cp_->ReportJobExit(*req));
}

}  // namespace loom
