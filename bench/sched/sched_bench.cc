// loom-bench sched: the time of one full scheduling pass of "multifactor-backfill" (ordering,
// quotas, topology-aware gang placement, backfill reservations, preemption planning) driven
// directly on the pure core, on clusters built from cluster-configs/.
//
// Three scenarios per cluster and queue length:
//   empty  the cluster is idle; the pass starts as much of the queue as fits (a few large gangs
//          fill it, since size weighs in the priority);
//   small  the cluster is idle and the queue holds only the mix's jobs of one node or less: the
//          pass places until the cluster is full (the placement rate);
//   busy   the cluster is filled to ~97% with running jobs of the same mix, as a real queue of
//          that length implies; the pass considers every pending job, reserves for the head,
//          backfills and plans preemptions.
// The pass is repeated (it is pure) and the median reported, with the peak RSS of the process.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/sched/workload.h"
#include "common/progress.h"
#include "scheduler/config/cluster_config.h"
#include "scheduler/policies/gang_placer.h"
#include "scheduler/policies/registry.h"

namespace loom::bench {
namespace {

using sched::TimeMs;

constexpr TimeMs kNow = 30LL * 24 * 3600 * 1000;  // virtual time: a month in

struct Options {
  std::string config_dir = LOOM_CLUSTER_CONFIG_DIR;
  std::vector<std::string> clusters = {"mai-15k", "frontier-150k"};
  std::vector<int> pending = {10000, 100000};
  int repeat = 5;
  uint64_t seed = 1;
  bool json = false;
};

struct Row {
  std::string cluster, scenario;
  int nodes = 0, gpus = 0, pending = 0, running = 0;
  double busy_percent = 0, after_percent = 0;  // GPUs held before the pass, and once its starts run
  double median_ms = 0, min_ms = 0, max_ms = 0;
  size_t starts = 0, reservations = 0, preemptions = 0;
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = s.find(',', start)) != std::string::npos; start = comma + 1) {
    out.push_back(s.substr(start, comma - start));
  }
  out.push_back(s.substr(start));
  return out;
}

void Usage(FILE* out) {
  std::fprintf(
      out,
      "usage: loom-bench sched [--clusters mai-15k,frontier-150k] [--pending 10000,100000]\n"
      "                        [--repeat 5] [--seed 1] [--config-dir DIR] [--json]\n");
}

// 0 to go on, otherwise the exit code.
int Parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "-h" || arg == "--help") {
      Usage(stdout);
      return -1;
    } else if (arg == "--json") {
      o->json = true;
    } else if (arg == "--clusters" && has_value) {
      o->clusters = Split(argv[++i]);
    } else if (arg == "--pending" && has_value) {
      o->pending.clear();
      for (const std::string& n : Split(argv[++i])) o->pending.push_back(std::stoi(n));
    } else if (arg == "--repeat" && has_value) {
      o->repeat = std::max(1, std::stoi(argv[++i]));
    } else if (arg == "--seed" && has_value) {
      o->seed = std::stoull(argv[++i]);
    } else if (arg == "--config-dir" && has_value) {
      o->config_dir = argv[++i];
    } else {
      std::fprintf(stderr, "loom-bench sched: unknown or incomplete option '%s'\n", arg.c_str());
      Usage(stderr);
      return 2;
    }
  }
  return 0;
}

std::unique_ptr<sched::SchedulingPolicy> MakePolicy() {
  sched::PolicySettings settings;
  settings.fair_share = JobMix::Tenants();
  return std::move(sched::MakePolicy("multifactor-backfill", settings).value());
}

// Jobs and the storage their requests live in (PendingJob and RunningJob point into it).
struct Jobs {
  std::vector<sched::JobRequest> requests;
  std::vector<sched::PendingJob> pending;
  std::vector<sched::RunningJob> running;
};

// Fills `cluster` with running jobs of the mix until it is ~97% allocated or stops fitting.
void Fill(sched::Cluster* cluster, JobMix* mix, Jobs* jobs, int gpus_per_node) {
  sched::GangPlacer placer;
  sched::CapacityView view(*cluster);
  const int target = cluster->total_gpus() * 97 / 100;
  std::vector<std::pair<sched::JobRequest, TimeMs>> started;
  for (int misses = 0; cluster->allocated_gpus() < target && misses < 1000;) {
    sched::JobRequest r = mix->Next(gpus_per_node);
    sched::Allocation a;
    if (!placer.Place(view, r, &a)) {
      ++misses;
      continue;
    }
    const sched::JobId id = 1'000'000'000 + static_cast<sched::JobId>(started.size());
    if (!cluster->Allocate(id, a).ok()) continue;
    view.Take(a);
    // Started some time within its limit, so ends spread over the coming days.
    const TimeMs ran = static_cast<TimeMs>(r.time_limit_ms * (started.size() % 97) / 100.0);
    started.emplace_back(r, kNow - ran);
  }
  jobs->requests.reserve(jobs->requests.size() + started.size());
  for (size_t i = 0; i < started.size(); ++i) {
    jobs->requests.push_back(started[i].first);
    jobs->running.push_back(
        {1'000'000'000 + static_cast<sched::JobId>(i), nullptr, started[i].second, false});
  }
}

// Queues `n` jobs of the mix; with `one_node`, only those of one node or less.
void Queue(int n, bool one_node, JobMix* mix, Jobs* jobs, int gpus_per_node) {
  const size_t first = jobs->requests.size();
  while (jobs->requests.size() < first + n) {
    sched::JobRequest r = mix->Next(gpus_per_node);
    if (!one_node || r.nodes() == 1) jobs->requests.push_back(std::move(r));
  }
  for (int i = 0; i < n; ++i) {
    jobs->pending.push_back({i + 1, nullptr, mix->SubmitTime(kNow)});
  }
  // Pointers are taken once the vector no longer grows.
  for (int i = 0; i < n; ++i) jobs->pending[i].request = &jobs->requests[first + i];
  for (size_t i = 0; i < jobs->running.size(); ++i) jobs->running[i].request = &jobs->requests[i];
}

Row Measure(const std::string& name, const sched::Cluster& cluster, const Jobs& jobs,
            const std::string& scenario, int repeat) {
  auto policy = MakePolicy();
  // An hour of history, so fair share has usage to weigh.
  policy->Advance(jobs.running, kNow - 3600 * 1000);
  policy->Advance(jobs.running, kNow);
  std::vector<double> ms;
  sched::PassResult result;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    result = policy->Schedule(cluster, jobs.pending, jobs.running, kNow);
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  Row row;
  row.cluster = name;
  row.scenario = scenario;
  row.nodes = cluster.size();
  row.gpus = cluster.total_gpus();
  row.pending = static_cast<int>(jobs.pending.size());
  row.running = static_cast<int>(jobs.running.size());
  row.busy_percent = 100.0 * cluster.allocated_gpus() / std::max(1, cluster.total_gpus());
  row.median_ms = ms[ms.size() / 2];
  row.min_ms = ms.front();
  row.max_ms = ms.back();
  row.starts = result.starts.size();
  int started_gpus = 0;
  for (const sched::StartDecision& s : result.starts) {
    for (const sched::NodeGrant& g : s.allocation) started_gpus += sched::PopCount(g.gpus);
  }
  row.after_percent =
      100.0 * (cluster.allocated_gpus() + started_gpus) / std::max(1, cluster.total_gpus());
  row.reservations = result.expected_starts.size();
  row.preemptions = result.preemptions.size();
  return row;
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // KiB on Linux
}

void Print(const std::vector<Row>& rows, bool json) {
  if (json) {
    std::printf("{\"bench\":\"sched\",\"peak_rss_mib\":%.1f,\"rows\":[", PeakRssMiB());
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::printf(
          "%s\n{\"cluster\":\"%s\",\"nodes\":%d,\"gpus\":%d,\"scenario\":\"%s\",\"pending\":%d,"
          "\"running\":%d,\"busy_percent\":%.1f,\"after_percent\":%.1f,\"pass_ms_median\":%.3f,"
          "\"pass_ms_min\":%.3f,"
          "\"pass_ms_max\":%.3f,\"starts\":%zu,\"reservations\":%zu,\"preemptions\":%zu,"
          "\"placements_per_s\":%.0f,\"jobs_considered_per_s\":%.0f}",
          i ? "," : "", r.cluster.c_str(), r.nodes, r.gpus, r.scenario.c_str(), r.pending,
          r.running, r.busy_percent, r.after_percent, r.median_ms, r.min_ms, r.max_ms, r.starts,
          r.reservations, r.preemptions, r.starts / (r.median_ms / 1e3),
          r.pending / (r.median_ms / 1e3));
    }
    std::printf("]}\n");
    return;
  }
  std::printf("%-14s %6s %7s %-6s %7s %7s %5s %6s %9s %9s %9s %7s %4s %4s %12s %12s\n", "cluster",
              "nodes", "gpus", "scen.", "pending", "running", "busy%", "after%", "pass_ms",
              "min_ms", "max_ms", "starts", "resv", "prmt", "placements/s", "considered/s");
  for (const Row& r : rows) {
    std::printf(
        "%-14s %6d %7d %-6s %7d %7d %5.1f %6.1f %9.2f %9.2f %9.2f %7zu %4zu %4zu %12.0f %12.0f\n",
        r.cluster.c_str(), r.nodes, r.gpus, r.scenario.c_str(), r.pending, r.running,
        r.busy_percent, r.after_percent, r.median_ms, r.min_ms, r.max_ms, r.starts, r.reservations,
        r.preemptions, r.starts / (r.median_ms / 1e3), r.pending / (r.median_ms / 1e3));
  }
  std::printf("peak RSS: %.1f MiB\n", PeakRssMiB());
}

}  // namespace

int RunSched(int argc, char** argv) {
  Options options;
  if (int rc = Parse(argc, argv, &options); rc != 0) return rc < 0 ? 0 : rc;
  std::vector<Row> rows;
  Progress progress("sched", static_cast<int>(options.clusters.size() * options.pending.size() * 3), !options.json);
  for (const std::string& name : options.clusters) {
    auto config = sched::LoadClusterConfig(options.config_dir + "/" + name + ".yaml");
    if (!config.ok()) {
      std::fprintf(stderr, "loom-bench sched: %s\n", config.status().message().c_str());
      return 1;
    }
    const int gpus_per_node = config->nodes.front().gpus;
    for (int n : options.pending) {
      for (const char* scenario : {"empty", "small", "busy"}) {
        progress.Next(name + " " + scenario + " " + std::to_string(n) + " pending");
        sched::Cluster cluster;
        if (Status s = sched::PopulateCluster(*config, &cluster); !s.ok()) {
          std::fprintf(stderr, "loom-bench sched: %s\n", s.message().c_str());
          return 1;
        }
        JobMix mix(options.seed);
        Jobs jobs;
        if (std::strcmp(scenario, "busy") == 0) Fill(&cluster, &mix, &jobs, gpus_per_node);
        Queue(n, std::strcmp(scenario, "small") == 0, &mix, &jobs, gpus_per_node);
        rows.push_back(Measure(name, cluster, jobs, scenario, options.repeat));
      }
    }
  }
  progress.Done();
  Print(rows, options.json);
  return 0;
}

}  // namespace loom::bench
