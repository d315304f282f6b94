#include "bench/cp/fleet.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>

namespace loom::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr auto kCallDeadline = std::chrono::seconds(10);
constexpr auto kExitRetry = std::chrono::milliseconds(200);

class FakeWorker final : public v1::Worker::Service {
 public:
  explicit FakeWorker(Fleet* fleet) : fleet_(fleet) {}
  grpc::Status Launch(grpc::ServerContext*, const v1::LaunchRequest* request, v1::LaunchReply*) override {
    fleet_->OnLaunch(*request);
    return grpc::Status::OK;
  }
  grpc::Status Kill(grpc::ServerContext*, const v1::KillRequest* request, v1::KillReply*) override {
    fleet_->OnKill(request->job_id(), request->attempt());
    return grpc::Status::OK;
  }

 private:
  Fleet* fleet_;
};

void SetDeadline(grpc::ClientContext* ctx) { ctx->set_deadline(std::chrono::system_clock::now() + kCallDeadline); }

}  // namespace

Fleet::Fleet(const std::string& loomd, const FleetOptions& options) : options_(options) {
  std::random_device rd;
  session_ = "bench-" + std::to_string(rd()) + std::to_string(rd());
  // Separate subchannel pools give each channel its own connection, as separate workers have.
  for (int i = 0; i < std::max(1, options.channels); ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("loom.bench.channel", i);
    stubs_.push_back(v1::Scheduler::NewStub(
        grpc::CreateCustomChannel(loomd, grpc::InsecureChannelCredentials(), args)));
  }
}

StatusOr<std::unique_ptr<Fleet>> Fleet::Start(const std::string& loomd, const FleetOptions& options) {
  if (options.nodes < 1 || options.servers < 1 || options.gpus_per_node < 1) {
    return InvalidArgument("a fleet needs at least one node, server and GPU per node");
  }
  std::unique_ptr<Fleet> fleet(new Fleet(loomd, options));
  std::vector<std::string> addresses;
  for (int s = 0; s < options.servers; ++s) {
    auto service = std::make_unique<FakeWorker>(fleet.get());
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service.get());
    auto server = builder.BuildAndStart();
    if (!server || port == 0) return Unavailable("cannot start a fake Worker server on loopback");
    addresses.push_back("127.0.0.1:" + std::to_string(port));
    fleet->services_.push_back(std::move(service));
    fleet->servers_.push_back(std::move(server));
  }
  for (int i = 0; i < options.nodes; ++i) {
    auto node = std::make_unique<Node>();
    char name[32];
    std::snprintf(name, sizeof name, "bn%05d", i);
    node->name = name;
    node->address = addresses[i % addresses.size()];
    fleet->node_index_[node->name] = i;
    fleet->nodes_.push_back(std::move(node));
  }
  fleet->exit_thread_ = std::thread([f = fleet.get()] { f->ExitLoop(); });
  return fleet;
}

Fleet::~Fleet() {
  Stop();
  for (auto& server : servers_) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

v1::RegisterRequest Fleet::RegisterRequestFor(int i) {
  v1::RegisterRequest req;
  v1::Node* node = req.mutable_node();
  node->set_name(nodes_[i]->name);
  node->set_address(nodes_[i]->address);
  node->set_host("127.0.0.1");
  // 32 nodes per leaf switch, 16 leaves per spine: the shape of the seeds' cluster configs.
  (*node->mutable_labels())["leaf"] = "leaf" + std::to_string(i / 32);
  (*node->mutable_labels())["spine"] = "spine" + std::to_string(i / 512);
  for (int g = 0; g < options_.gpus_per_node; ++g) {
    v1::Gpu* gpu = node->add_gpus();
    gpu->set_index(g);
    gpu->set_model("H100-SXM-80GB");
    gpu->set_memory_bytes(int64_t{80} << 30);
    gpu->set_peak_tflops(989);
  }
  req.set_session(session_);
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [job, attempt] : nodes_[i]->running) {
    v1::JobAttempt* a = req.add_running();
    a->set_job_id(job);
    a->set_attempt(attempt);
  }
  return req;
}

void Fleet::Register(int i, std::function<void(bool)> done) {
  struct Call {
    grpc::ClientContext ctx;
    v1::RegisterRequest req;
    v1::RegisterReply reply;
  };
  auto* call = new Call;
  call->req = RegisterRequestFor(i);
  SetDeadline(&call->ctx);
  ++calls_in_flight_;
  StubFor(i)->async()->Register(&call->ctx, &call->req, &call->reply, [this, call, done, i](grpc::Status s) {
    if (s.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      nodes_[i]->launch_mark = 0;  // loomd numbers this registration's Launches afresh
    }
    if (s.ok()) nodes_[i]->registered = true;
    if (done) done(s.ok());
    delete call;
    --calls_in_flight_;
  });
}

Status Fleet::RegisterAll(std::chrono::milliseconds timeout) {
  std::mutex m;
  std::condition_variable cv;
  std::deque<int> todo;
  for (int i = 0; i < options_.nodes; ++i) todo.push_back(i);
  int in_flight = 0, registered = 0, failures = 0;
  const auto deadline = SteadyClock::now() + timeout;
  std::unique_lock<std::mutex> l(m);
  while (registered < options_.nodes && SteadyClock::now() < deadline) {
    while (!todo.empty() && in_flight < options_.register_window) {
      int i = todo.front();
      todo.pop_front();
      ++in_flight;
      l.unlock();
      Register(i, [&, i](bool ok) {
        std::lock_guard<std::mutex> g(m);
        --in_flight;
        if (ok) {
          ++registered;
        } else {
          ++failures;
          todo.push_back(i);
        }
        cv.notify_all();
      });
      l.lock();
    }
    cv.wait_until(l, deadline, [&] {
      return registered == options_.nodes || (!todo.empty() && in_flight < options_.register_window);
    });
  }
  // The callbacks refer to this frame: wait for them (each call has a deadline).
  cv.wait(l, [&] { return in_flight == 0; });
  if (registered < options_.nodes) {
    return Unavailable("registered only " + std::to_string(registered) + " of " +
                       std::to_string(options_.nodes) + " nodes (" + std::to_string(failures) +
                       " failed calls)");
  }
  return Status::Ok();
}

void Fleet::StartHeartbeats() {
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
}

void Fleet::HeartbeatLoop() {
  const auto period = std::chrono::milliseconds(options_.heartbeat_ms);
  const int n = static_cast<int>(nodes_.size());
  const auto start = SteadyClock::now();
  for (int64_t cycle = 0;; ++cycle) {
    const auto base = start + cycle * period;
    for (int i = 0; i < n; ++i) {
      // Node i beats at offset i/n of the period; nodes due within a millisecond go together.
      const auto due = base + period * i / n;
      if (due > SteadyClock::now() + std::chrono::milliseconds(1)) std::this_thread::sleep_until(due);
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stop_) return;
      }
      SendHeartbeat(i);
    }
  }
}

void Fleet::Record(float ms) {
  std::lock_guard<std::mutex> l(mu_);
  counts_.heartbeat_ms.push_back(ms);
}

void Fleet::SendHeartbeat(int i) {
  Node& node = *nodes_[i];
  if (!node.registered) return;
  if (node.in_flight.exchange(true)) {  // the previous one has not come back yet
    if (recording_) {
      std::lock_guard<std::mutex> l(mu_);
      ++counts_.heartbeats_skipped;
    }
    return;
  }
  struct Call {
    grpc::ClientContext ctx;
    v1::HeartbeatRequest req;
    v1::HeartbeatReply reply;
    SteadyClock::time_point t0;
  };
  auto* call = new Call;
  call->req.set_node(node.name);
  call->req.set_session(session_);
  for (int g = 0; g < options_.gpus_per_node; ++g) {
    v1::Gpu* gpu = call->req.add_gpus();
    gpu->set_index(g);
    gpu->set_utilization(0.5);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [job, attempt] : node.running) {
      v1::JobAttempt* a = call->req.add_running();
      a->set_job_id(job);
      a->set_attempt(attempt);
    }
    call->req.set_launch_mark(node.launch_mark);
  }
  SetDeadline(&call->ctx);
  ++calls_in_flight_;
  call->t0 = SteadyClock::now();
  StubFor(i)->async()->Heartbeat(&call->ctx, &call->req, &call->reply, [this, call, i](grpc::Status s) {
    const float ms = std::chrono::duration<float, std::milli>(SteadyClock::now() - call->t0).count();
    const bool recording = recording_;
    if (s.ok()) {
      if (recording) Record(ms);
      if (call->reply.reregister()) {
        Register(i, nullptr);
        if (recording) {
          std::lock_guard<std::mutex> l(mu_);
          ++counts_.reregisters;
        }
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        nodes_[i]->launch_mark = std::max(nodes_[i]->launch_mark, call->reply.launch_fence());
      }
      for (const auto& a : call->reply.kill()) OnKill(a.job_id(), a.attempt());
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (recording) ++(s.ok() ? counts_.heartbeats_ok : counts_.heartbeats_failed);
    }
    nodes_[i]->in_flight = false;
    delete call;
    --calls_in_flight_;
  });
}

void Fleet::OnLaunch(const v1::LaunchRequest& request) {
  const v1::Job& job = request.job();
  if (request.node_index() < 0 || request.node_index() >= job.allocation_size()) return;
  auto it = node_index_.find(job.allocation(request.node_index()).node());
  if (it == node_index_.end()) return;
  int64_t run_ms = 1000;
  if (auto e = job.spec().env().find("LOOM_BENCH_JOB_MS"); e != job.spec().env().end()) {
    run_ms = std::atoll(e->second.c_str());
  }
  const std::pair<int64_t, int32_t> key{job.id(), job.attempt()};
  std::lock_guard<std::mutex> l(mu_);
  nodes_[it->second]->launch_mark = std::max(nodes_[it->second]->launch_mark, request.launch_seq());
  if (!nodes_[it->second]->running.insert(key).second) return;  // Launch is idempotent
  attempts_[key].push_back(it->second);
  exits_.push({SteadyClock::now() + std::chrono::milliseconds(run_ms), it->second, key.first, key.second, 0});
  if (recording_) ++counts_.launches;
  cv_.notify_all();
}

void Fleet::OnKill(int64_t job, int32_t attempt) {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [key, nodes] : attempts_) {
    if (key.first != job || (attempt != 0 && key.second != attempt)) continue;
    for (int node : nodes) exits_.push({SteadyClock::now(), node, key.first, key.second, 143});
    if (recording_) ++counts_.kills;
  }
  cv_.notify_all();
}

void Fleet::ExitLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    if (exits_.empty()) {
      cv_.wait(l);
      continue;
    }
    if (exits_.top().due > SteadyClock::now()) {
      cv_.wait_until(l, exits_.top().due);
      continue;
    }
    Exit exit = exits_.top();
    exits_.pop();
    l.unlock();
    SendExit(exit);
    l.lock();
  }
}

void Fleet::SendExit(const Exit& exit) {
  const std::pair<int64_t, int32_t> key{exit.job, exit.attempt};
  {
    // A killed attempt still has its natural exit queued; the report goes once.
    std::lock_guard<std::mutex> l(mu_);
    if (!nodes_[exit.node]->running.count(key) || !reporting_.insert({exit.job, exit.attempt, exit.node}).second) {
      return;
    }
  }
  struct Call {
    grpc::ClientContext ctx;
    v1::ReportJobExitRequest req;
    v1::ReportJobExitReply reply;
  };
  auto* call = new Call;
  call->req.set_node(nodes_[exit.node]->name);
  call->req.set_job_id(exit.job);
  call->req.set_attempt(exit.attempt);
  call->req.set_exit_code(exit.exit_code);
  if (exit.exit_code == 143) {
    call->req.set_signal(15);
    call->req.set_reason("Cancelled");
  }
  SetDeadline(&call->ctx);
  ++calls_in_flight_;
  StubFor(exit.node)->async()->ReportJobExit(&call->ctx, &call->req, &call->reply, [this, call, exit, key](grpc::Status s) {
    {
      std::lock_guard<std::mutex> l(mu_);
      reporting_.erase({exit.job, exit.attempt, exit.node});
      if (s.ok()) {
        nodes_[exit.node]->running.erase(key);
        auto it = attempts_.find(key);
        if (it != attempts_.end()) {
          std::erase(it->second, exit.node);
          if (it->second.empty()) attempts_.erase(it);
        }
        if (recording_) ++counts_.exits_acked;
      } else if (!stop_) {
        Exit retry = exit;  // kept until acknowledged, as the real worker keeps it on disk
        retry.due = SteadyClock::now() + kExitRetry;
        exits_.push(retry);
        cv_.notify_all();
      }
    }
    delete call;
    --calls_in_flight_;
  });
}

void Fleet::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (exit_thread_.joinable()) exit_thread_.join();
  // Callbacks refer to this object; every call has a deadline, so this wait is bounded.
  const auto deadline = SteadyClock::now() + kCallDeadline + std::chrono::seconds(5);
  while (calls_in_flight_ > 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

FleetCounts Fleet::Counts() {
  std::lock_guard<std::mutex> l(mu_);
  return counts_;
}

}  // namespace loom::bench
