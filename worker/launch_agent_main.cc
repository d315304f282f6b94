// loom-launch-agent HOST COMMAND...: mpirun's remote-start command (its plm_rsh_agent). Instead
// of ssh, it asks HOST's loom-worker to run COMMAND under the job, relaying its output and exit
// code. The worker address of each host comes from LOOM_NODE_ADDRS, set by the head worker.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <cstdlib>
#include <string>

#include "common/paths.h"
#include "common/tls/tls.h"
#include "loom/v1/loom.grpc.pb.h"

namespace {

// ssh's convention: 255 means the connection, not the command, failed.
constexpr int kAgentError = 255;

std::string AddressOf(const std::string& host, const std::string& table) {
  size_t start = 0;
  while (start < table.size()) {
    size_t end = table.find(',', start);
    if (end == std::string::npos) end = table.size();
    std::string entry = table.substr(start, end - start);
    auto eq = entry.find('=');
    if (eq != std::string::npos && entry.substr(0, eq) == host) return entry.substr(eq + 1);
    start = end + 1;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: loom-launch-agent HOST COMMAND... (run by mpirun inside a Loom job)\n");
    return kAgentError;
  }
  const char* table = std::getenv("LOOM_NODE_ADDRS");
  const char* job = std::getenv("LOOM_JOB_ID");
  if (!table || !job) {
    std::fprintf(stderr, "loom-launch-agent: LOOM_NODE_ADDRS and LOOM_JOB_ID must be set (run inside a Loom MPI job)\n");
    return kAgentError;
  }
  std::string host = argv[1];
  std::string address = AddressOf(host, table);
  if (address.empty()) {
    std::fprintf(stderr, "loom-launch-agent: host %s is not in this job's allocation\n", host.c_str());
    return kAgentError;
  }
  loom::v1::ExecRequest req;
  req.set_job_id(std::strtoll(job, nullptr, 10));
  if (const char* token = std::getenv("LOOM_JOB_TOKEN")) req.set_job_token(token);
  for (int i = 2; i < argc; ++i) req.add_argv(argv[i]);

  auto security = loom::tls::Security::ForClient(loom::LoomHome());
  if (!security.ok()) {
    std::fprintf(stderr, "loom-launch-agent: %s\n", security.status().message().c_str());
    return kAgentError;
  }
  // The worker must prove it is `host`'s node, whatever address the table gives.
  auto stub = loom::v1::Worker::NewStub(security->Dial(address, loom::tls::NodeServerName(host)));
  // loomd sends each node's Launch on its own, so mpirun on the head may reach a node before
  // that node's Launch has: PERMISSION_DENIED with nothing streamed is retried for a while.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int code = kAgentError;
  for (;;) {
    grpc::ClientContext ctx;
    auto reader = stub->Exec(&ctx, req);
    loom::v1::ExecChunk chunk;
    bool streamed = false;
    while (reader->Read(&chunk)) {
      streamed = true;
      if (!chunk.stdout_data().empty()) {
        std::fwrite(chunk.stdout_data().data(), 1, chunk.stdout_data().size(), stdout);
        std::fflush(stdout);
      }
      if (!chunk.stderr_data().empty()) {
        std::fwrite(chunk.stderr_data().data(), 1, chunk.stderr_data().size(), stderr);
        std::fflush(stderr);
      }
      if (chunk.exited()) code = chunk.exit_code();
    }
    grpc::Status s = reader->Finish();
    if (s.ok()) break;
    if (!streamed && s.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
        std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    std::fprintf(stderr, "loom-launch-agent: %s (%s): %s\n", host.c_str(), address.c_str(),
                 s.error_message().c_str());
    return kAgentError;
  }
  return code;
}
