// loom-sim: run, compare and frontier (docs/SIM.md). Bad input is one line on stderr and exit 1.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "kernels/train/model_shape.h"
#include "scheduler/config/cluster_config.h"
#include "scheduler/config/policy_config.h"
#include "sim/frontier.h"
#include "sim/report.h"
#include "sim/simulator.h"

namespace loom::sim {
namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "loom-sim: %s\n", s.message().c_str());
  return 1;
}

// A cluster config by path, or by name from cluster-configs/ ("mai-15k").
StatusOr<sched::ClusterConfig> LoadCluster(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".yaml")) {
    return sched::LoadClusterConfig(name_or_path);
  }
  return sched::LoadClusterConfig(std::string(LOOM_CLUSTER_CONFIG_DIR) + "/" + name_or_path + ".yaml");
}

struct CommonFlags {
  std::string policy_config, trace, workload, failures, gemm_json;
  std::vector<std::string> coll_fits;  // LEVEL=FILE
  uint64_t seed = 1;
  double pass_interval_s = 0, horizon_days = 0;
};

void AddCommon(CLI::App* app, CommonFlags* f, bool workload) {
  if (workload) {
    app->add_option("--policy-config", f->policy_config, "policy config YAML (as loomd's)");
    auto* trace = app->add_option("--trace", f->trace, "trace CSV (docs/SIM.md)");
    auto* synth = app->add_option("--workload", f->workload, "synthetic workload YAML");
    trace->excludes(synth);
    app->add_option("--pass-interval", f->pass_interval_s, "seconds between scheduling passes at most (0: every change, as loomd)");
    app->add_option("--horizon-days", f->horizon_days, "stop after this many simulated days (0: when every job has ended)");
  }
  app->add_option("--failures", f->failures, "failure model YAML, or 'none' (default: Llama 3's rates)");
  app->add_option("--seed", f->seed, "random seed (workload and failures)");
  app->add_option("--gemm-json", f->gemm_json, "loom-bench gemm --json output: the GPU's GEMM efficiency");
  app->add_option("--coll-fit", f->coll_fits, "LEVEL=FILE: loom-bench coll --fit output for nvlink, leaf or spine");
}

Status ApplyPerf(const CommonFlags& f, PerfInputs* perf) {
  if (!f.gemm_json.empty()) LOOM_RETURN_IF_ERROR(ApplyGemmJson(f.gemm_json, perf));
  for (const std::string& spec : f.coll_fits) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos) return InvalidArgument("--coll-fit " + spec + ": expected LEVEL=FILE");
    LOOM_ASSIGN_OR_RETURN(LinkLevel level, ParseLinkLevel(spec.substr(0, eq)));
    LOOM_RETURN_IF_ERROR(ApplyCollFit(spec.substr(eq + 1), level, perf));
  }
  return Status::Ok();
}

StatusOr<FailureModel> Failures(const CommonFlags& f) {
  if (f.failures.empty()) return DefaultFailureModel();
  if (f.failures == "none") return NoFailures();
  return LoadFailureModel(f.failures);
}

StatusOr<std::vector<SimJob>> Workload(const CommonFlags& f) {
  if (!f.trace.empty()) return LoadTrace(f.trace);
  if (!f.workload.empty()) {
    LOOM_ASSIGN_OR_RETURN(SyntheticSpec spec, LoadSyntheticSpec(f.workload));
    return Generate(spec, f.seed);
  }
  return InvalidArgument("give --trace FILE or --workload FILE");
}

// The options one run needs, but the cluster and policy.
StatusOr<SimOptions> BaseOptions(const CommonFlags& f, std::string* policy_from_config) {
  SimOptions o;
  LOOM_ASSIGN_OR_RETURN(o.failures, Failures(f));
  LOOM_RETURN_IF_ERROR(ApplyPerf(f, &o.perf));
  if (!f.policy_config.empty()) {
    LOOM_ASSIGN_OR_RETURN(sched::PolicyConfig pc, sched::LoadPolicyConfig(f.policy_config));
    o.policy_settings = pc.settings;
    *policy_from_config = pc.policy;
  }
  o.seed = f.seed;
  o.pass_interval_s = f.pass_interval_s;
  o.horizon_s = f.horizon_days * 86400;
  if (f.pass_interval_s < 0 || f.horizon_days < 0) return InvalidArgument("--pass-interval and --horizon-days must not be negative");
  // One line a simulated day at most, and a last one only for runs that printed before.
  o.progress = [last = 0.0](double now_s, int64_t ended, int64_t total) mutable {
    if (ended < total ? now_s - last < 86400 : last == 0) return;
    last = now_s;
    std::fprintf(stderr, "loom-sim: day %.1f, %lld of %lld jobs ended\n", now_s / 86400,
                 static_cast<long long>(ended), static_cast<long long>(total));
  };
  return o;
}

int Run(const CommonFlags& f, const std::string& cluster_path, std::string policy, bool json,
        const std::string& report) {
  std::string configured;
  auto options = BaseOptions(f, &configured);
  if (!options.ok()) return Fail(options.status());
  if (policy.empty()) policy = configured.empty() ? "priority-fifo" : configured;
  options->policy = policy;
  auto cluster = LoadCluster(cluster_path);
  if (!cluster.ok()) return Fail(cluster.status());
  options->cluster = *cluster;
  auto jobs = Workload(f);
  if (!jobs.ok()) return Fail(jobs.status());
  auto result = RunSimulation(*options, *jobs);
  if (!result.ok()) return Fail(result.status());
  const Summary s = Summarize(*result);
  if (json) {
    std::cout << RunJson(s, *result).dump(1) << "\n";
  } else {
    std::cout << "cluster " << cluster->name << ", policy " << policy << "\n" << SummaryText(s);
  }
  if (!report.empty()) {
    Status st = WriteHtmlReport(report, "loom-sim: " + cluster->name + ", " + policy, s, *result);
    if (!st.ok()) return Fail(st);
    std::fprintf(stderr, "loom-sim: wrote %s\n", report.c_str());
  }
  return 0;
}

int Compare(const CommonFlags& f, const std::vector<std::string>& clusters,
            const std::vector<std::string>& policies, bool json) {
  std::string configured;
  auto base = BaseOptions(f, &configured);
  if (!base.ok()) return Fail(base.status());
  auto jobs = Workload(f);
  if (!jobs.ok()) return Fail(jobs.status());
  nlohmann::json rows = nlohmann::json::array();
  if (!json) {
    std::printf("%-16s %-36s %6s %6s %10s %10s %10s %7s %7s %6s %6s %9s\n", "cluster", "policy",
                "jobs", "done", "mean JCT", "p95 JCT", "mean wait", "alloc", "goodput", "MFU",
                "ETTR", "lost GPUh");
  }
  for (const std::string& c : clusters) {
    auto cluster = LoadCluster(c);
    if (!cluster.ok()) return Fail(cluster.status());
    for (const std::string& p : policies) {
      SimOptions o = *base;
      o.cluster = *cluster;
      o.policy = p;
      auto result = RunSimulation(o, *jobs);
      if (!result.ok()) return Fail(result.status());
      const Summary s = Summarize(*result);
      double lost = 0;
      for (const auto& [cause, h] : s.lost_gpu_hours) lost += h;
      if (json) {
        rows.push_back({{"cluster", cluster->name}, {"policy", p}, {"summary", SummaryJson(s)}});
      } else {
        std::printf("%-16s %-36s %6d %6d %9.2fh %9.2fh %9.2fh %6.1f%% %6.1f%% %5.1f%% %6.3f %9.1f\n",
                    cluster->name.c_str(), p.c_str(), s.jobs, s.completed, s.jct_s.mean / 3600,
                    s.jct_s.p95 / 3600, s.queue_s.mean / 3600, 100 * s.allocation, 100 * s.goodput,
                    100 * s.cluster_mfu, s.ettr, lost);
      }
    }
  }
  if (json) std::cout << rows.dump(1) << "\n";
  return 0;
}

int FrontierCommand(const CommonFlags& f, FrontierInputs in, const std::string& clusters, bool json) {
  auto failures = Failures(f);
  if (!failures.ok()) return Fail(failures.status());
  in.failures = *failures;
  if (Status s = ApplyPerf(f, &in.perf); !s.ok()) return Fail(s);
  in.seed = f.seed;
  if (auto shape = train::Preset(in.model); !shape.ok()) return Fail(shape.status());
  if (!(in.spare_share >= 0 && in.spare_share < 1)) return Fail(InvalidArgument("--spare must be in [0, 1)"));
  nlohmann::json rows = nlohmann::json::array();
  if (!json) {
    std::printf("%-14s %8s %8s %-22s %7s %8s %6s %9s %9s %6s %6s %12s\n", "cluster", "GPUs", "used",
                "layout (TP×PP×DP, v)", "step s", "TFLOP/s", "MFU", "interr/d", "ckpt min",
                "ETTR", "days", "GPU-hours");
  }
  std::string rest = clusters;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string name = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    auto cluster = LoadCluster(name);
    if (!cluster.ok()) return Fail(cluster.status());
    std::fprintf(stderr, "loom-sim: %s: simulating the run\n", cluster->name.c_str());
    auto row = Frontier(*cluster, in);
    if (!row.ok()) return Fail(row.status());
    const Layout& l = row->layout;
    const std::string layout = std::to_string(l.tp) + "×" + std::to_string(l.pp) + "×" +
                               std::to_string(l.dp) + ", v " + std::to_string(l.virtual_stages);
    if (json) {
      rows.push_back({{"cluster", row->cluster}, {"cluster_gpus", row->cluster_gpus},
                      {"gpus", row->gpus}, {"tp", l.tp}, {"pp", l.pp}, {"dp", l.dp},
                      {"virtual_stages", l.virtual_stages}, {"micro_batches", row->step.micro_batches},
                      {"step_s", row->step.step_s}, {"bubble_s", row->step.bubble_s},
                      {"tflops_per_gpu", row->step.tflops_per_gpu}, {"mfu", row->step.mfu},
                      {"interruptions_per_day", row->interruptions_per_day},
                      {"checkpoint_interval_s", row->checkpoint_interval_s},
                      {"checkpoint_write_s", row->checkpoint_write_s}, {"ettr", row->ettr},
                      {"ettr_closed_form", row->ettr_closed_form}, {"failures", row->failures},
                      {"days", row->days}, {"gpu_hours", row->gpu_hours}});
    } else {
      std::printf("%-14s %8d %8d %-24s %7.2f %8.0f %5.1f%% %9.1f %9.1f %6.3f %6.1f %12.3g\n",
                  row->cluster.c_str(), row->cluster_gpus, row->gpus, layout.c_str(), row->step.step_s,
                  row->step.tflops_per_gpu, 100 * row->step.mfu, row->interruptions_per_day,
                  row->checkpoint_interval_s / 60, row->ettr, row->days, row->gpu_hours);
    }
  }
  if (json) std::cout << rows.dump(1) << "\n";
  return 0;
}

}  // namespace
}  // namespace loom::sim

int main(int argc, char** argv) {
  using namespace loom::sim;
  CLI::App app{"loom-sim: Loom's scheduler core and policies on a virtual clock"};
  app.require_subcommand(1);
  CommonFlags f;
  bool json = false;

  std::string cluster, policy, report;
  auto* run = app.add_subcommand("run", "one cluster, one policy, one workload");
  run->add_option("--cluster-config", cluster, "cluster config YAML (or a name in cluster-configs/)")->required();
  run->add_option("--policy", policy, "scheduling policy (as loomd's --policy)");
  run->add_option("--report", report, "write an HTML report with charts");
  run->add_flag("--json", json, "the summary and every job as JSON");
  AddCommon(run, &f, true);

  std::vector<std::string> clusters, policies;
  auto* compare = app.add_subcommand("compare", "several policies or clusters, same workload and seed");
  compare->add_option("--cluster-config", clusters, "cluster configs (repeat)")->required();
  compare->add_option("--policy", policies, "policies (repeat)")->required();
  compare->add_flag("--json", json, "JSON instead of a table");
  AddCommon(compare, &f, true);

  FrontierInputs in;
  std::string frontier_clusters = "mai-15k,frontier-96k,frontier-150k";
  auto* frontier = app.add_subcommand("frontier", "one frontier pre-training run on each cluster");
  frontier->add_option("--model", in.model, "kernels/train preset")->capture_default_str();
  frontier->add_option("--tokens", in.tokens, "tokens to train on")->capture_default_str();
  frontier->add_option("--batch-tokens", in.batch_tokens, "tokens per step")->capture_default_str();
  frontier->add_option("--tp", in.tp, "tensor parallel size")->capture_default_str();
  frontier->add_option("--pp", in.pp, "pipeline parallel size")->capture_default_str();
  frontier->add_option("--virtual-stages", in.perf.virtual_stages, "interleaved chunks per pipeline rank")->capture_default_str();
  frontier->add_option("--spare", in.spare_share, "share of nodes kept spare for failures")->capture_default_str();
  frontier->add_option("--storage-gbps", in.storage_gbytes_per_s, "checkpoint write bandwidth, GB/s")->capture_default_str();
  frontier->add_option("--clusters", frontier_clusters, "comma-separated cluster configs")->capture_default_str();
  frontier->add_flag("--json", json, "JSON instead of a table");
  AddCommon(frontier, &f, false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "loom-sim: %s\n", e.what());
    return 1;
  }
  if (run->parsed()) return Run(f, cluster, policy, json, report);
  if (compare->parsed()) return Compare(f, clusters, policies, json);
  const int pp = in.pp, tp = in.tp;
  if (tp < 1 || pp < 1 || in.perf.virtual_stages < 1) {
    std::fprintf(stderr, "loom-sim: --tp, --pp and --virtual-stages must be positive\n");
    return 1;
  }
  return FrontierCommand(f, in, frontier_clusters, json);
}
