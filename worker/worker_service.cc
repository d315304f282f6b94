#include "worker/worker_service.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

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

// Like sshd running a remote command: the argv is joined and handed to the shell, so the quoting
// mpirun applies for a remote shell keeps its meaning.
grpc::Status WorkerService::Exec(grpc::ServerContext* ctx, const v1::ExecRequest* req,
                                 grpc::ServerWriter<v1::ExecChunk>* writer) {
  if (req->job_token().empty()) return ToGrpc(Unauthenticated("exec needs the job's credential (LOOM_JOB_TOKEN)"));
  if (req->argv().empty()) return ToGrpc(InvalidArgument("exec needs a command"));
  std::string command;
  for (const std::string& a : req->argv()) command += (command.empty() ? "" : " ") + a;
  auto exec = runner_->StartExec(req->job_id(), req->job_token(), command);
  if (!exec.ok()) return ToGrpc(exec.status());

  pollfd fds[2] = {{exec->stdout_fd, POLLIN, 0}, {exec->stderr_fd, POLLIN, 0}};
  int open_fds = 2;
  bool cancelled = false;
  char buf[65536];
  while (open_fds > 0) {
    if (!cancelled && ctx->IsCancelled()) {  // the agent went away, as an ssh client can
      kill(exec->pid, SIGTERM);
      cancelled = true;
    }
    if (poll(fds, 2, 200) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      v1::ExecChunk chunk;
      (i == 0 ? chunk.mutable_stdout_data() : chunk.mutable_stderr_data())->assign(buf, static_cast<size_t>(n));
      if (!cancelled) writer->Write(chunk);
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  v1::ExecChunk last;
  last.set_exited(true);
  last.set_exit_code(runner_->WaitExec(exec->pid));
  if (!cancelled) writer->Write(last);
  return grpc::Status::OK;
}

}  // namespace loom::worker
