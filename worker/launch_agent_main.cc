// loom-launch-agent HOST COMMAND...: mpirun's remote-start command (its plm_rsh_agent). Instead
// of ssh, it asks HOST's loom-worker to run COMMAND under the job, relaying its output and exit
// code. The worker address of each host comes from LOOM_NODE_ADDRS, set by the head worker.
// The command outlives a restart of that worker, and the agent resumes its stream.
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

// How long a broken stream is resumed (LOOM_EXEC_RESUME_S, default 120 s).
int ResumeWindowS() {
  const char* v = std::getenv("LOOM_EXEC_RESUME_S");
  const int s = v ? std::atoi(v) : 0;
  return s > 0 ? s : 120;
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
  // that node's Launch has: PERMISSION_DENIED before the exec started is retried for a while.
  const auto now = [] { return std::chrono::steady_clock::now(); };
  const auto start_by = now() + std::chrono::seconds(5);
  // A stream that breaks once the command runs (the worker restarted: the command lives on under
  // its supervisor) is resumed where it stopped, for as long as a worker restart may take; loomd
  // ends the job if the node stays away longer, and that kill ends this agent with mpirun.
  const std::chrono::seconds resume_window(ResumeWindowS());
  auto resume_by = now() + resume_window;
  int64_t stdout_offset = 0, stderr_offset = 0;
  int code = kAgentError;
  for (bool exited = false; !exited;) {
    grpc::ClientContext ctx;
    auto reader = stub->Exec(&ctx, req);
    loom::v1::ExecChunk chunk;
    while (reader->Read(&chunk)) {
      if (chunk.exec_id() != 0 && req.exec_id() == 0) {
        req.set_exec_id(chunk.exec_id());  // from now on, a retry resumes this one
        req.clear_argv();
      }
      resume_by = now() + resume_window;
      if (!chunk.stdout_data().empty()) {
        std::fwrite(chunk.stdout_data().data(), 1, chunk.stdout_data().size(), stdout);
        std::fflush(stdout);
        stdout_offset += static_cast<int64_t>(chunk.stdout_data().size());
      }
      if (!chunk.stderr_data().empty()) {
        std::fwrite(chunk.stderr_data().data(), 1, chunk.stderr_data().size(), stderr);
        std::fflush(stderr);
        stderr_offset += static_cast<int64_t>(chunk.stderr_data().size());
      }
      if (chunk.exited()) {
        code = chunk.exit_code();
        exited = true;
      }
    }
    grpc::Status s = reader->Finish();
    if (exited) break;
    const bool started = req.exec_id() != 0;
    const bool retry = started ? s.error_code() == grpc::StatusCode::UNAVAILABLE && now() < resume_by
                               : s.error_code() == grpc::StatusCode::PERMISSION_DENIED && now() < start_by;
    if (!retry) {
      std::fprintf(stderr, "loom-launch-agent: %s (%s): %s\n", host.c_str(), address.c_str(),
                   s.ok() ? "the stream ended before the command did" : s.error_message().c_str());
      return kAgentError;
    }
    if (started) {
      req.set_stdout_offset(stdout_offset);
      req.set_stderr_offset(stderr_offset);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(started ? 200 : 50));
  }
  return code;
}
