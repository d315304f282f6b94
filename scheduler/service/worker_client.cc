#include "scheduler/service/worker_client.h"

#include <grpcpp/grpcpp.h>

#include "scheduler/service/grpc_status.h"

namespace loom {
namespace {
constexpr std::chrono::milliseconds kRpcTimeout{5000};
}  // namespace

v1::Worker::Stub* GrpcWorkerClient::StubFor(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& stub = stubs_[address];
  if (!stub) {
    stub = v1::Worker::NewStub(security_.Dial(address, tls::kAnyNodeServerName));
  }
  return stub.get();
}

Status GrpcWorkerClient::Launch(const std::string& address, const v1::LaunchRequest& request) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kRpcTimeout);
  v1::LaunchReply reply;
  v1::LaunchRequest signed_request = request;
  // Every node of an attempt gets the same credential: mpirun's launch agent on the first node
  // presents it to the others' workers.
  const v1::Job& job = request.job();
  signed_request.set_job_token(jobs_->Issue(job.id(), job.attempt() > 0 ? job.attempt() : job.runs_size()));
  return FromGrpc(StubFor(address)->Launch(&ctx, signed_request, &reply), "worker " + address);
}

Status GrpcWorkerClient::Kill(const std::string& address, const v1::KillRequest& request) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kRpcTimeout);
  v1::KillReply reply;
  return FromGrpc(StubFor(address)->Kill(&ctx, request, &reply), "worker " + address);
}

StatusOr<v1::ReadLogReply> GrpcWorkerClient::ReadLog(const std::string& address,
                                                     const v1::ReadLogRequest& request) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kRpcTimeout);
  v1::ReadLogReply reply;
  LOOM_RETURN_IF_ERROR(FromGrpc(StubFor(address)->ReadLog(&ctx, request, &reply), "worker " + address));
  return reply;
}

}  // namespace loom
