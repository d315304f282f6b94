#include "worker/step_reporter.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common/paths.h"
#include "common/tls/tls.h"
#include "scheduler/service/grpc_status.h"

namespace loom::worker {
namespace {

constexpr auto kRpcTimeout = std::chrono::seconds(5);

StatusOr<int64_t> EnvInt(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return InvalidArgument(std::string(name) + " is not set");
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  if (*end != '\0' || x < 0) return InvalidArgument(std::string(name) + "='" + v + "' is not a number");
  return static_cast<int64_t>(x);
}

// The worker hands ranks $LOOM_CA_CERT (or $LOOM_INSECURE=1); without either the handshake
// with a TLS loomd fails and the reports are dropped, which never fails the job.
std::shared_ptr<grpc::Channel> LoomdChannel(const std::string& server) {
  auto security = tls::Security::ForClient(LoomHome());
  if (!security.ok()) return grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  return security->Dial(server, tls::kLoomdServerName);
}

}  // namespace

StatusOr<std::unique_ptr<StepReporter>> StepReporter::FromEnvironment(std::chrono::milliseconds interval) {
  const char* server = std::getenv("LOOM_SERVER");
  if (!server || !*server || !std::getenv("LOOM_JOB_ID")) return std::unique_ptr<StepReporter>();
  LOOM_ASSIGN_OR_RETURN(const int64_t job, EnvInt("LOOM_JOB_ID"));
  const char* run_text = std::getenv("LOOM_JOB_RUN");
  int64_t attempt = 1;
  if (run_text && *run_text) {
    LOOM_ASSIGN_OR_RETURN(attempt, EnvInt("LOOM_JOB_RUN"));
  }
  // LOOM_JOB_RUN is the 1-based attempt; ReportStepsRequest.run indexes Job.runs from 0.
  return std::make_unique<StepReporter>(server, job, static_cast<int>(std::max<int64_t>(attempt - 1, 0)), interval);
}

StepReporter::StepReporter(const std::string& server, int64_t job_id, int run,
                           std::chrono::milliseconds interval)
    : stub_(v1::Scheduler::NewStub(LoomdChannel(server))),
      server_(server),
      job_id_(job_id),
      run_(run),
      interval_(interval),
      thread_([this] { Loop(); }) {}

StepReporter::~StepReporter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StepReporter::Record(const v1::StepSample& sample) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.size() >= kMaxQueued) queue_.erase(queue_.begin());  // the oldest go first
  queue_.push_back(sample);
}

Status StepReporter::Flush() {
  std::lock_guard<std::mutex> one_sender(send_mu_);  // two sends would deliver the queue twice
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.empty()) return Status::Ok();
  v1::ReportStepsRequest request;
  request.set_job_id(job_id_);
  request.set_run(run_);
  for (const v1::StepSample& s : queue_) *request.add_steps() = s;
  const size_t sent = queue_.size();
  lock.unlock();  // Record must not wait for the network
  grpc::ClientContext ctx;
  // loomd accepts step reports only with this attempt's credential, which the worker handed us.
  if (const char* token = std::getenv("LOOM_JOB_TOKEN"); token && *token) ctx.AddMetadata("loom-job-token", token);
  ctx.set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
  v1::ReportStepsReply reply;
  Status s = FromGrpc(stub_->ReportSteps(&ctx, request, &reply), "loomd at " + server_);
  lock.lock();
  // A refusal (the job is unknown, the report malformed) will not improve with retries.
  const bool drop = s.ok() || s.code() != StatusCode::kUnavailable;  // timeouts map there too
  if (drop) queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(sent));
  if (!s.ok() && !warned_) {
    std::fprintf(stderr, "loom: step report for job %lld not delivered: %s\n",
                 static_cast<long long>(job_id_), s.message().c_str());
  }
  warned_ = !s.ok();
  return s;
}

void StepReporter::Loop() {
  for (bool stop = false; !stop;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, interval_, [&] { return stop_; });
      stop = stop_;
    }
    // After a stop: the last steps of the run; loomd gets a few seconds, then the process exits.
    (void)Flush();
  }
}

}  // namespace loom::worker
