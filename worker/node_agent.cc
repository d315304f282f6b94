#include "worker/node_agent.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <set>

#include "scheduler/service/grpc_status.h"

namespace loom::worker {
namespace {
constexpr std::chrono::milliseconds kRpcTimeout{5000};
}  // namespace

NodeAgent::NodeAgent(std::shared_ptr<grpc::Channel> channel, const std::string& server, v1::Node node,
                     std::string session, AgentOptions options)
    : stub_(v1::Scheduler::NewStub(channel)),
      server_(server),
      node_(std::move(node)),
      session_(std::move(session)),
      options_(std::move(options)),
      spool_(options_.report_dir),
      last_contact_(std::chrono::steady_clock::now()) {
  for (v1::ReportJobExitRequest& r : spool_.Load()) {
    r.set_node(node_.name());  // same --home and --name; the name is what loomd keys on
    reports_.push_back(std::move(r));
  }
}

void NodeAgent::Contact(SteadyTime sent) {
  // The lease counts from when the answered call was sent: a call sent before a SIGSTOP and
  // answered after it must not hide the gap.
  CheckLease();
  std::lock_guard<std::mutex> lock(mu_);
  last_contact_ = std::max(last_contact_, sent);
  lease_expired_ = false;
  if (!options_.lease_file.empty()) {
    // Not synced: after a crash an old lease only makes supervisors stop sooner.
    const std::string tmp = options_.lease_file + ".tmp";
    std::ofstream(tmp) << lease_ms_.load() << "\n";
    std::rename(tmp.c_str(), options_.lease_file.c_str());
  }
}

Status NodeAgent::DoRegister() {
  v1::RegisterRequest req;
  *req.mutable_node() = node_;
  req.set_session(session_);
  req.set_registration(NewRegistration());
  ListAttempts(*req.mutable_running(), req.registration());
  if (health_) *req.mutable_health() = health_();
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kRpcTimeout);
  const SteadyTime sent = std::chrono::steady_clock::now();
  v1::RegisterReply reply;
  LOOM_RETURN_IF_ERROR(FromGrpc(stub_->Register(&ctx, req, &reply), "loomd at " + server_));
  if (reply.heartbeat_interval_ms() > 0) heartbeat_ms_ = reply.heartbeat_interval_ms();
  lease_ms_ = reply.node_lease_ms() > 0 ? reply.node_lease_ms() : options_.default_lease_ms;
  Contact(sent);
  std::lock_guard<std::mutex> lock(mu_);
  next_try_ = {};  // a new loomd (or the same one back): resend what waits now
  return Status::Ok();
}

Status NodeAgent::Register() { return DoRegister(); }

uint64_t NodeAgent::NewRegistration() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t r = 0;
  while (r == 0) r = rng();  // 0 is an unstamped launch
  return r;
}

void NodeAgent::ListAttempts(google::protobuf::RepeatedPtrField<v1::JobAttempt>& out,
                             std::optional<uint64_t> registration, uint64_t* launch_mark) {
  std::set<AttemptKey> listed;
  if (runner_) {
    uint64_t mark = 0;
    for (const AttemptKey& k : registration ? runner_->BeginRegistration(*registration) : runner_->Running(&mark)) {
      listed.insert(k);
    }
    if (launch_mark) *launch_mark = mark;
  }
  {
    // An attempt whose report waits is not over for loomd yet: listing it keeps loomd from
    // taking it for lost (and requeueing a job that finished) before the report gets through.
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : reports_) listed.insert({r.job_id(), r.attempt()});
  }
  for (const AttemptKey& k : listed) {
    v1::JobAttempt* a = out.Add();
    a->set_job_id(k.job_id);
    a->set_attempt(k.attempt);
  }
}

void NodeAgent::OnJobExit(const JobExit& exit) {
  v1::ReportJobExitRequest r;
  r.set_node(node_.name());
  r.set_job_id(exit.job_id);
  r.set_attempt(exit.attempt);
  r.set_exit_code(exit.exit_code);
  r.set_signal(exit.signal);
  r.set_reason(exit.reason);
  std::lock_guard<std::mutex> lock(mu_);
  Status s = spool_.Put(r);
  // A full disk must not lose the report: it is still sent from memory, only not kept across a
  // restart of the worker.
  if (!s.ok()) std::fprintf(stderr, "loom-worker: exit report kept in memory only: %s\n", s.message().c_str());
  for (auto it = reports_.begin(); it != reports_.end(); ++it) {
    if (it->job_id() == r.job_id() && it->attempt() == r.attempt()) {
      reports_.erase(it);
      break;
    }
  }
  reports_.push_back(std::move(r));
  wake_ = true;
  cv_.notify_all();
}

void NodeAgent::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  wake_ = true;
  cv_.notify_all();
}

size_t NodeAgent::PendingReports() {
  std::lock_guard<std::mutex> lock(mu_);
  return reports_.size();
}

void NodeAgent::FlushReports() {
  for (;;) {
    v1::ReportJobExitRequest r;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (reports_.empty() || std::chrono::steady_clock::now() < next_try_) return;
      r = reports_.front();
    }
    grpc::ClientContext ctx;
    SetDeadline(&ctx, kRpcTimeout);
    v1::ReportJobExitReply reply;
    const SteadyTime sent = std::chrono::steady_clock::now();
    grpc::Status s = stub_->ReportJobExit(&ctx, r, &reply);
    if (s.ok()) Contact(sent);
    std::lock_guard<std::mutex> lock(mu_);
    if (!s.ok()) {
      // Only an OK settles a report (loomd answers OK for stale ones too): anything else, even a
      // refused commit, is tried again later.
      if (failures_ == 0) {
        std::fprintf(stderr, "loom-worker: exit report of job %lld attempt %d not delivered, will retry: %s\n",
                     static_cast<long long>(r.job_id()), r.attempt(), s.error_message().c_str());
      }
      ++failures_;
      next_try_ = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(RetryDelayMs(failures_, options_.retry_min_ms, options_.retry_max_ms));
      return;
    }
    failures_ = 0;
    Status removed = spool_.Remove(r.job_id(), r.attempt());
    if (!removed.ok()) std::fprintf(stderr, "loom-worker: %s\n", removed.message().c_str());
    if (!reports_.empty() && reports_.front().job_id() == r.job_id() && reports_.front().attempt() == r.attempt()) {
      reports_.pop_front();
    }
  }
}

void NodeAgent::CheckLease() {
  const int64_t lease = lease_ms_;
  if (lease <= 0 || !runner_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lease_expired_ || std::chrono::steady_clock::now() - last_contact_ < std::chrono::milliseconds(lease)) return;
    lease_expired_ = true;
  }
  std::fprintf(stderr, "loom-worker: no word from loomd for %lld ms (the node lease): killing this node's jobs\n",
               static_cast<long long>(lease));
  // loomd presumes this node's ranks gone from now on: a Launch still on its way must not start
  // any, so none is taken until the node has registered again.
  runner_->DropRegistration();
  reregister_ = true;
  runner_->KillAll("NodeLeaseExpired");  // their exit reports wait on disk for loomd's return
}

void NodeAgent::Heartbeat(SteadyTime& next_heartbeat, bool& registered) {
  v1::HeartbeatRequest hb;
  hb.set_node(node_.name());
  hb.set_session(session_);
  std::vector<double> busy = runner_->Utilization(node_.gpus_size());
  if (nvml_) {
    if (auto sampled = nvml_->Busy(node_.gpus_size())) busy = std::move(*sampled);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_busy_ = busy;
  }
  for (int i = 0; i < node_.gpus_size(); ++i) {
    v1::Gpu* g = hb.add_gpus();
    g->set_index(i);
    g->set_utilization(busy[static_cast<size_t>(i)]);
  }
  uint64_t mark = 0;
  ListAttempts(*hb.mutable_running(), std::nullopt, &mark);
  hb.set_launch_mark(mark);
  if (health_) *hb.mutable_health() = health_();
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kRpcTimeout);
  v1::HeartbeatReply reply;
  const SteadyTime sent = std::chrono::steady_clock::now();
  grpc::Status s = stub_->Heartbeat(&ctx, hb, &reply);
  if (!s.ok()) return;
  Contact(sent);
  if (reply.reregister()) {
    registered = false;
    next_heartbeat = std::chrono::steady_clock::now();
  }
  runner_->ApplyLaunchFence(reply.fence_registration(), reply.launch_fence());
  // Only the named attempt: a newer one of the same job here is left alone.
  for (const v1::JobAttempt& k : reply.kill()) runner_->Kill(k.job_id(), k.attempt(), "NotRunningHere");
}

void NodeAgent::Run(const std::atomic<bool>& stop) {
  bool registered = true;
  auto next_heartbeat = std::chrono::steady_clock::now();
  while (!stop) {
    // The lease first: a worker woken from SIGSTOP must not let a lucky RPC hide its absence.
    CheckLease();
    if (reregister_.exchange(false)) registered = false;
    // Reports next: after a loomd restart they settle jobs before registration re-adopts the rest.
    FlushReports();
    if (std::chrono::steady_clock::now() >= next_heartbeat) {
      next_heartbeat = std::chrono::steady_clock::now() + std::chrono::milliseconds(heartbeat_ms_);
      if (!registered) {
        Status s = DoRegister();
        registered = s.ok();
        if (!s.ok() && s.code() != StatusCode::kUnavailable) {
          std::fprintf(stderr, "loom-worker: register: %s\n", s.message().c_str());
        }
        if (registered) FlushReports();
      }
      if (registered) Heartbeat(next_heartbeat, registered);
    }
    std::unique_lock<std::mutex> lock(mu_);
    auto until = next_heartbeat;
    if (!reports_.empty() && next_try_ < until) until = std::max(next_try_, std::chrono::steady_clock::now());
    cv_.wait_until(lock, until, [&] { return wake_ || stop; });
    wake_ = false;
  }
}

std::vector<double> NodeAgent::LastBusy() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_busy_;
}

}  // namespace loom::worker
