// The chaos test (issue 10): 4 workers and 200 jobs (1-GPU and 2-node) while a seeded driver
// kills loomd (-9, restarted on its address), kills workers (-9, restarted) and SIGSTOPs one past
// the node timeout (then SIGCONT). Every rank records job, attempt, node, GPUs and its interval
// (rank_records.h). Asserted: every acknowledged job ends COMPLETED, no job's attempts overlap,
// every rank ran on a node loomd gave that attempt and inside the attempt's time, and no GPU was
// held by two jobs at once. LOOM_CHAOS_SEED=N replays a run (the seed is printed).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "tests/integration/local_cluster.h"
#include "tests/integration/rank_records.h"

namespace loom::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 4;
constexpr int kJobs = 200;
constexpr auto kChaosWindow = std::chrono::seconds(60);

bool IsFinal(v1::JobState s) {
  return s == v1::COMPLETED || s == v1::FAILED || s == v1::CANCELLED || s == v1::NODE_FAIL || s == v1::TIMEOUT;
}

StatusOr<int64_t> SubmitOne(LocalCluster& cluster, const std::string& dir, bool two_nodes, int ticks) {
  v1::SubmitRequest req;
  v1::JobSpec* spec = req.mutable_spec();
  spec->set_gpus(two_nodes ? 2 : 1);
  spec->set_gpus_per_node(1);
  spec->set_workdir(dir);
  spec->set_max_requeues(100);  // chaos may hit one job many times; it must still complete
  for (const std::string& a : {std::string("/bin/sh"), std::string("-c"), RankScript(ticks)}) spec->add_command(a);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  v1::SubmitReply reply;
  grpc::Status s = cluster.stub().Submit(&ctx, req, &reply);
  if (!s.ok()) return Unavailable(s.error_message());
  return reply.job_id();
}

struct Fault {
  enum Kind { kLoomd, kWorker, kStop } kind;
  Clock::time_point at;
};

TEST(ChaosTest, EveryAcknowledgedJobCompletesOnceWithoutOverlaps) {
  unsigned seed = std::random_device{}();
  if (const char* s = std::getenv("LOOM_CHAOS_SEED")) seed = static_cast<unsigned>(std::stoul(s));
  std::printf("chaos seed %u (LOOM_CHAOS_SEED=%u replays it)\n", seed, seed);
  std::fflush(stdout);
  RecordProperty("seed", std::to_string(seed));
  std::mt19937 rng(seed);

  LocalCluster::Options options;
  options.workers = kWorkers;
  options.gpus_per_worker = 4;
  options.heartbeat_ms = 200;
  options.node_timeout_ms = 1500;
  options.worker_args = {"--peak-tflops", "1"};  // no GEMM calibration at each restart
  LocalCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok());
  const std::string dir = cluster.MakeDir("chaos");

  // The faults, at random moments of the window: 4 loomd kills, 4 worker kills, 2 stops.
  const Clock::time_point begin = Clock::now();
  std::uniform_int_distribution<int> moment(2000, static_cast<int>(kChaosWindow.count() * 1000) - 8000);
  std::vector<Fault> faults;
  for (auto [kind, count] : {std::pair{Fault::kLoomd, 4}, std::pair{Fault::kWorker, 4}, std::pair{Fault::kStop, 2}}) {
    for (int i = 0; i < count; ++i) faults.push_back({kind, begin + std::chrono::milliseconds(moment(rng))});
  }
  std::sort(faults.begin(), faults.end(), [](const Fault& a, const Fault& b) { return a.at < b.at; });

  std::vector<int64_t> acknowledged;
  int stopped = -1;
  Clock::time_point resume_at;
  size_t next_fault = 0;
  const auto submit_every = std::chrono::milliseconds(kChaosWindow - std::chrono::seconds(10)) / kJobs;
  Clock::time_point next_submit = begin;
  std::bernoulli_distribution two_nodes(0.25);
  std::uniform_int_distribution<int> ticks(1, 8);  // 0.1 to 0.8 s of work
  std::uniform_int_distribution<int> worker(0, kWorkers - 1);
  std::uniform_int_distribution<int> stop_ms(1800, 6000);  // past the node timeout, maybe the lease
  while (Clock::now() < begin + kChaosWindow || stopped >= 0) {
    const auto now = Clock::now();
    if (stopped >= 0 && now >= resume_at) {
      std::printf("t=%.1fs SIGCONT node-%d\n", std::chrono::duration<double>(now - begin).count(), stopped + 1);
      cluster.SignalWorker(stopped, SIGCONT);
      stopped = -1;
    }
    if (next_fault < faults.size() && now >= faults[next_fault].at) {
      const Fault& f = faults[next_fault++];
      const double t = std::chrono::duration<double>(now - begin).count();
      if (f.kind == Fault::kLoomd) {
        std::printf("t=%.1fs kill -9 loomd\n", t);
        cluster.KillLoomd(SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1000)(rng)));
        ASSERT_TRUE(cluster.StartLoomd().ok()) << "loomd did not restart";
      } else {
        int victim = worker(rng);
        if (victim == stopped) victim = (victim + 1) % kWorkers;
        if (f.kind == Fault::kWorker) {
          std::printf("t=%.1fs kill -9 node-%d\n", t, victim + 1);
          cluster.KillWorker(victim, SIGKILL);
          std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng)));
          ASSERT_TRUE(cluster.StartWorker(victim).ok());
        } else if (stopped < 0) {
          const int ms = stop_ms(rng);
          std::printf("t=%.1fs SIGSTOP node-%d for %d ms\n", t, victim + 1, ms);
          cluster.SignalWorker(victim, SIGSTOP);
          stopped = victim;
          resume_at = now + std::chrono::milliseconds(ms);
        }
      }
      std::fflush(stdout);
    }
    if (static_cast<int>(acknowledged.size()) < kJobs && now >= next_submit) {
      auto id = SubmitOne(cluster, dir, two_nodes(rng), ticks(rng));
      if (id.ok()) {
        acknowledged.push_back(*id);
        next_submit += submit_every;
      }  // not acknowledged (loomd away): tried again
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Submits that loomd was away for are made up after the window.
  while (static_cast<int>(acknowledged.size()) < kJobs) {
    auto id = SubmitOne(cluster, dir, two_nodes(rng), ticks(rng));
    if (id.ok()) acknowledged.push_back(*id);
    else std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("t=%.1fs chaos over, %zu jobs acknowledged\n",
              std::chrono::duration<double>(Clock::now() - begin).count(), acknowledged.size());

  // Every acknowledged job ends COMPLETED.
  std::map<int64_t, v1::Job> jobs;
  const Clock::time_point settle = Clock::now() + std::chrono::seconds(90);
  for (int64_t id : acknowledged) {
    v1::Job last;
    while (Clock::now() < settle) {
      auto job = cluster.GetJob(id);
      if (job.ok()) last = *job;
      if (job.ok() && IsFinal(job->state())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(last.state(), v1::COMPLETED) << "job " << id << " " << v1::JobState_Name(last.state()) << ": "
                                           << last.reason();
    jobs[id] = last;
  }
  std::printf("t=%.1fs all settled\n", std::chrono::duration<double>(Clock::now() - begin).count());

  const std::vector<RankRecord> records = ReadRankRecords(dir);
  int requeued = 0;
  for (const auto& [id, job] : jobs) requeued += job.runs_size() > 1;
  std::printf("%zu rank records, %d jobs ran more than one attempt\n", records.size(), requeued);
  // No rank ran for a job loomd did not hold on that node, nor before that attempt started.
  for (const RankRecord& r : records) {
    auto it = jobs.find(r.job);
    if (it == jobs.end()) continue;  // submitted, answer lost: not acknowledged, not checked
    const v1::Job& job = it->second;
    ASSERT_GE(r.attempt, 1);
    ASSERT_LE(r.attempt, job.runs_size()) << "job " << r.job << " rank ran an attempt loomd never started";
    const v1::JobRun& run = job.runs(r.attempt - 1);
    EXPECT_NE(std::find(run.nodes().begin(), run.nodes().end(), r.node), run.nodes().end())
        << "job " << r.job << " attempt " << r.attempt << " ran on " << r.node << " which loomd did not give it";
    // A rank killed between writing its first line and its first tick has no interval to check.
    if (r.start_ns != 0) {
      EXPECT_GE(r.start_ns / 1000000, run.start_ms()) << "job " << r.job << " attempt " << r.attempt
                                                      << " ran before loomd started it";
    }
    // A rank may outlive its run's end_ms: that is when loomd decided the attempt was over (an exit
    // report, a node DOWN), and its other ranks get SIGTERM and a grace after it. What must hold is
    // that the GPUs are not handed on and no next attempt starts before they are gone: the two
    // overlap checks below.
  }
  const std::vector<std::string> overlaps = AttemptOverlaps(records), gpu_overlaps = GpuOverlaps(records);
  for (const std::string& v : overlaps) ADD_FAILURE() << v;
  for (const std::string& v : gpu_overlaps) ADD_FAILURE() << v;
  if (!overlaps.empty() || !gpu_overlaps.empty()) {
    // What loomd recorded of every job it restarted, for a post-mortem of a CI run.
    for (const auto& [id, job] : jobs) {
      if (job.runs_size() < 2) continue;
      for (const v1::JobRun& run : job.runs()) {
        std::string nodes;
        for (const std::string& n : run.nodes()) nodes += (nodes.empty() ? "" : ",") + n;
        std::printf("job %lld attempt %d on %s [%lld, %lld] ms: %s %s\n", static_cast<long long>(id),
                    run.attempt(), nodes.c_str(), static_cast<long long>(run.start_ms()),
                    static_cast<long long>(run.end_ms()), v1::EndCause_Name(run.cause()).c_str(),
                    run.detail().c_str());
      }
    }
  }
}

}  // namespace
}  // namespace loom::testing
