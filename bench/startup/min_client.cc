// The smallest gRPC client of loomd: one ListJobs call and nothing else. loom-startup.sh times
// it beside `loom queue` to tell what the CLI adds from what gRPC itself costs.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>

#include "loom/v1/loom.grpc.pb.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: loom-min-client HOST:PORT\n");
    return 2;
  }
  auto stub = loom::v1::Scheduler::NewStub(grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  loom::v1::ListJobsRequest req;
  loom::v1::ListJobsReply reply;
  grpc::Status s = stub->ListJobs(&ctx, req, &reply);
  if (!s.ok()) {
    std::fprintf(stderr, "loom-min-client: %s\n", s.error_message().c_str());
    return 1;
  }
  std::printf("%d jobs\n", reply.jobs_size());
  return 0;
}
