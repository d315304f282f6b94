#include "worker/worker_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "common/tls/tls.h"
#include "scheduler/service/grpc_status.h"

namespace loom::worker {

Status WorkerService::CheckLoomd(const grpc::ServerContext& ctx) const {
  if (!check_loomd_) return Status::Ok();
  const std::string peer = tls::PeerIdentity(ctx);
  if (peer == tls::kLoomdIdentity) return Status::Ok();
  if (peer.empty()) return Unauthenticated("only loomd may call this (no client certificate)");
  return PermissionDenied("only loomd may call this, not '" + peer + "'");
}

grpc::Status WorkerService::Launch(grpc::ServerContext* ctx, const v1::LaunchRequest* req, v1::LaunchReply*) {
  if (Status s = CheckLoomd(*ctx); !s.ok()) return ToGrpc(s);
  Status s = runner_->Launch(*req);
  if (!s.ok()) std::fprintf(stderr, "loom-worker: launch refused: %s\n", s.message().c_str());
  return ToGrpc(s);
}

grpc::Status WorkerService::Kill(grpc::ServerContext* ctx, const v1::KillRequest* req, v1::KillReply*) {
  if (Status s = CheckLoomd(*ctx); !s.ok()) return ToGrpc(s);
  runner_->Kill(req->job_id(), req->attempt(), req->reason(), req->grace_ms());
  return grpc::Status::OK;
}

grpc::Status WorkerService::ReadLog(grpc::ServerContext* ctx, const v1::ReadLogRequest* req,
                                    v1::ReadLogReply* reply) {
  if (Status s = CheckLoomd(*ctx); !s.ok()) return ToGrpc(s);
  auto r = runner_->ReadLog(*req);
  if (!r.ok()) return ToGrpc(r.status());
  *reply = std::move(*r);
  return grpc::Status::OK;
}

namespace {

// Follows one output file of an exec from an offset: what was appended since the last call.
class Tail {
 public:
  Tail(std::string path, int64_t offset) : path_(std::move(path)), offset_(std::max<int64_t>(offset, 0)) {}
  ~Tail() {
    if (fd_ >= 0) close(fd_);
  }
  std::string ReadMore() {
    if (fd_ < 0) fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);  // created by the supervisor
    if (fd_ < 0) return "";
    std::string data;
    char buf[65536];
    for (;;) {
      const ssize_t n = pread(fd_, buf, sizeof(buf), offset_);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
      offset_ += n;
      if (data.size() >= sizeof(buf)) break;  // one chunk at a time
    }
    return data;
  }

 private:
  const std::string path_;
  int64_t offset_;
  int fd_ = -1;
};

}  // namespace

// Like sshd running a remote command: the argv is joined and handed to the shell, so the quoting
// mpirun applies for a remote shell keeps its meaning. The command runs under a supervisor and
// writes to files, which this follows: a stream that broke with a worker restart is resumed by
// the same exec_id and the offsets the caller got to.
grpc::Status WorkerService::Exec(grpc::ServerContext* ctx, const v1::ExecRequest* req,
                                 grpc::ServerWriter<v1::ExecChunk>* writer) {
  if (req->job_token().empty()) return ToGrpc(Unauthenticated("exec needs the job's credential (LOOM_JOB_TOKEN)"));
  StatusOr<JobRunner::ExecInfo> exec = InvalidArgument("exec needs a command");
  if (req->exec_id() != 0) {
    exec = runner_->FindExec(req->job_id(), req->job_token(), req->exec_id());
  } else if (!req->argv().empty()) {
    std::string command;
    for (const std::string& a : req->argv()) command += (command.empty() ? "" : " ") + a;
    exec = runner_->StartExec(req->job_id(), req->job_token(), command);
  }
  if (!exec.ok()) return ToGrpc(exec.status());

  v1::ExecChunk first;
  first.set_exec_id(exec->id);
  if (!writer->Write(first)) {
    if (req->exec_id() == 0) runner_->KillExec(req->job_id(), exec->id);
    return grpc::Status::OK;
  }
  Tail out(exec->stdout_path, req->stdout_offset()), err(exec->stderr_path, req->stderr_offset());
  for (;;) {
    // The end is read before the output, so everything written before it is sent.
    const std::optional<int> code = runner_->WaitExecEnd(req->job_id(), exec->id, std::chrono::milliseconds(50));
    for (;;) {
      v1::ExecChunk chunk;
      chunk.set_stdout_data(out.ReadMore());
      chunk.set_stderr_data(err.ReadMore());
      if (chunk.stdout_data().empty() && chunk.stderr_data().empty()) break;
      writer->Write(chunk);
    }
    if (code) {
      v1::ExecChunk last;
      last.set_exited(true);
      last.set_exit_code(*code);
      writer->Write(last);
      return grpc::Status::OK;
    }
    if (ctx->IsCancelled()) {  // the agent went away, as an ssh client can
      runner_->KillExec(req->job_id(), exec->id);
      return grpc::Status::CANCELLED;
    }
  }
}

}  // namespace loom::worker
