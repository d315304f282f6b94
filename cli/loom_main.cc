// loom: the user's command line for a Loom cluster, in the spirit of sbatch/squeue/sinfo.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/completion.h"
#include "cli/history.h"
#include "cli/job_control.h"
#include "cli/export_trace.h"
#include "cli/job_file.h"
#include "common/duration.h"
#include "common/job_syntax.h"
#include "common/paths.h"

int main(int argc, char** argv) {
  using namespace loom::cli;
  CLI::App app{"loom: submit and watch training jobs on a Loom GPU cluster"};
  app.require_subcommand(1);
  Global g;
  g.home = loom::LoomHome();
  app.add_option("--server", g.server, "loomd address HOST:PORT (default $LOOM_SERVER, then $LOOM_HOME/loomd.addr)");
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_flag("--insecure", g.insecure, "plaintext, no certificates (a loopback loomd started with --insecure)");
  app.set_help_all_flag("--help-all", "help for every command");

  // submit
  auto* submit = app.add_subcommand("submit", "queue a job: loom submit [options] -- PROGRAM ARGS...");
  loom::v1::JobSpec flags;
  std::string file, time_text, name, tenant, workdir;
  int gpus = 0, per_node = 0, priority = 0;
  bool mpi = false, wait = false;
  std::vector<std::string> env;
  submit->add_option("--gpus,-G", gpus, "GPUs, all allocated at once (default 1)");
  submit->add_option("--gpus-per-node", per_node, "GPUs on each node (default: one node if it fits, else whole nodes)");
  int tasks_per_node = 0;
  submit->add_option("--tasks-per-node", tasks_per_node,
                     "processes per node, sharing its GPUs (default: one per GPU; 1: one launcher such as torchrun per node)");
  submit->add_option("--time,-t", time_text, "time limit: minutes, HH:MM:SS, D-HH:MM:SS or 2h/30m");
  submit->add_option("--name,-J", name, "job name (default: the program)");
  submit->add_option("--tenant", tenant, "team charged for the GPUs (default $USER)");
  submit->add_option("--priority", priority, "higher runs first");
  int qos = 0;
  std::string leaf, leaf_wait;
  submit->add_option("--qos", qos, "quality of service: higher QoS is ordered first and may preempt lower");
  submit->add_option("--leaf", leaf, "leaf switches a multi-node job may span: fewest (default), prefer-one, require-one")
      ->check(CLI::IsMember({"fewest", "prefer-one", "require-one"}));
  submit->add_option("--leaf-wait", leaf_wait, "with --leaf prefer-one: how long to wait for one leaf switch (e.g. 10m)");
  // One value per -e, so that "-e K=V -- PROG -c ..." ends the options at "--".
  submit->add_option("--env,-e", env, "KEY=VALUE for every rank; repeatable")->allow_extra_args(false);
  submit->add_option("--workdir,-D", workdir, "working directory of the ranks (default: here)");
  submit->add_flag("--mpi", mpi, "run under mpirun as one MPI_COMM_WORLD across the job's nodes");
  std::string signal_text, grace_text;
  int max_requeues = 0;
  bool no_requeue = false;
  submit->add_option("--signal", signal_text, "SIG@SECONDS: send SIG to every rank SECONDS before the time limit (e.g. USR1@120)");
  submit->add_option("--grace", grace_text, "between SIGTERM and SIGKILL when the job is preempted, drained or cancelled (e.g. 2m)");
  submit->add_option("--max-requeues", max_requeues, "requeues on infrastructure failure before NODE_FAIL (default: loomd's, 5)");
  submit->add_flag("--no-requeue", no_requeue, "an infrastructure failure ends the job NODE_FAIL instead of requeueing it");
  bool hold = false;
  std::string dependency, array;
  submit->add_flag("--hold,-H", hold, "submit held: PENDING (JobHeldUser) until loom release");
  submit->add_option("--dependency,-d", dependency,
                     "afterok:ID[:ID...], afterany:, afternotok:, singleton; joined by ',' (all must hold)");
  submit->add_option("--array,-a", array, "a job array: 0-99%8 (at most 8 at once), 1,3,5-7 or 0-15:4");
  submit->add_option("--file,-f", file, "YAML job file; flags override its fields");
  submit->add_flag("--wait,-W", wait, "wait for the job to end; exit with its status");
  std::vector<std::string> command;
  submit->add_option("command", command, "PROGRAM ARGS... (after --)");
  submit->allow_extras(false);

  auto* queue = app.add_subcommand("queue", "pending and running jobs (like squeue)");
  bool all = false;
  std::vector<std::string> states;
  queue->add_flag("--all,-a", all, "include finished jobs (the whole history)");
  int limit = 0;
  queue->add_option("--limit", limit, "at most this many jobs");
  queue->add_option("--state", states,
                    "only jobs in these states (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, NODE_FAIL, TIMEOUT)");

  auto* show = app.add_subcommand("show", "one job in detail");
  std::string job;
  show->add_option("job", job, "job id (12, or 12_7 for an array's task)")->required();

  auto* cancel = app.add_subcommand("cancel", "cancel pending or running jobs (like scancel)");
  std::vector<std::string> jobs;
  cancel->add_option("jobs", jobs, "job ids: 12, 12_7 (an array's task), or an array's id (all tasks)")->required();

  auto* hold_cmd = app.add_subcommand("hold", "keep pending jobs from starting (like scontrol hold)");
  std::vector<std::string> hold_jobs;
  hold_cmd->add_option("jobs", hold_jobs, "job ids: 12, 12_7 (an array's task), or an array's id (all tasks)")->required();
  auto* release_cmd = app.add_subcommand("release", "let held jobs start (like scontrol release)");
  std::vector<std::string> release_jobs;
  release_cmd->add_option("jobs", release_jobs, "job ids: 12, 12_7, or an array's id")->required();

  auto* nodes = app.add_subcommand("nodes", "the cluster's nodes (like sinfo -N)");

  auto* logs = app.add_subcommand("logs", "a rank's output");
  int rank = 0;
  bool err = false, follow = false;
  logs->add_option("job", job, "job id")->required();
  logs->add_option("--rank,-r", rank, "rank (default 0)");
  logs->add_flag("--stderr", err, "standard error instead of standard output");
  logs->add_flag("--follow,-f", follow, "keep printing until the rank ends");

  auto* stats = app.add_subcommand("stats", "cluster counters and efficiency figures");
  std::string since = "24h";
  stats->add_option("--since", since, "the window, back from now (90s, 45m, 2h, 1d, ...)")->capture_default_str();

  auto* history = app.add_subcommand("history", "finished jobs from loomd's database (like sacct)");
  HistoryFlags history_flags;
  history->add_option("--since,-S", history_flags.since, "jobs alive after this: a duration back from now (7d, 12h) or a date (2026-12-01T08:00)")
      ->capture_default_str();
  history->add_option("--until,-E", history_flags.until, "jobs submitted before this (same forms; default now)");
  history->add_option("--tenant", history_flags.tenant, "only this tenant's jobs (non-admins see only their own)");
  history->add_option("--state", history_flags.states, "only jobs in these states (default: every final state)");
  history->add_option("--name,-J", history_flags.name, "only jobs of this name");
  history->add_option("--limit", history_flags.limit, "at most this many jobs (the oldest first)");
  auto* export_trace = app.add_subcommand("export-trace", "finished jobs as a loom-sim trace CSV (docs/SIM.md)");
  std::string trace_since = "7d", trace_until, trace_out;
  export_trace->add_option("--since", trace_since, "jobs submitted since this long ago (90s, 45m, 2h, 1d, ...)")->capture_default_str();
  export_trace->add_option("--until", trace_until, "and before this long ago (default: now)");
  export_trace->add_option("-o,--output", trace_out, "write FILE instead of stdout");

  auto* drain = app.add_subcommand("drain", "stop placing jobs on nodes (like scontrol update state=drain)");
  std::vector<std::string> drain_nodes;
  std::string drain_reason;
  bool drain_requeue = false;
  drain->add_option("nodes", drain_nodes, "node names")->required();
  drain->add_option("--reason", drain_reason, "why (shown by loom nodes)");
  drain->add_flag("--requeue", drain_requeue, "signal the nodes' running jobs and requeue them");
  auto* resume = app.add_subcommand("resume", "place jobs on drained nodes again");
  std::vector<std::string> resume_nodes;
  resume->add_option("nodes", resume_nodes, "node names")->required();

  auto* up = app.add_subcommand("up", "run loomd and emulated workers here until Ctrl-C");
  UpOptions up_options;
  up->add_option("--workers", up_options.workers, "emulated nodes")->capture_default_str();
  up->add_option("--gpus-per-worker", up_options.gpus_per_worker, "emulated GPUs per node")->capture_default_str();
  up->add_option("--gpu-model", up_options.gpu_model, "model of the emulated GPUs")->capture_default_str();
  up->add_option("--heartbeat-ms", up_options.heartbeat_ms, "worker heartbeat interval")->capture_default_str();
  up->add_option("--node-timeout-ms", up_options.node_timeout_ms, "silence before a node is DOWN")->capture_default_str();
  up->add_option("--cluster-config", up_options.cluster_config,
                 "start one emulated worker per node of this config (e.g. cluster-configs/ci.yaml)");
  up->add_option("--policy", up_options.policy,
                 "loomd's scheduling policy (priority-fifo, the default; multifactor-backfill, ...)");
  up->add_option("--policy-config", up_options.policy_config,
                 "loomd's policy settings (e.g. policy-configs/fair-share.yaml)");
  up->add_option("--http-listen", up_options.http_listen,
                 "loomd's /metrics and dashboard (workers' /metrics on the same host); \"\" turns them off")
      ->capture_default_str();

  auto* completion = app.add_subcommand("completion", "print a shell completion script: source <(loom completion bash)");
  std::string shell;
  completion->add_option("shell", shell, "the shell (bash)")->required()->check(CLI::IsMember({"bash"}));

  auto* certs = app.add_subcommand("certs", "cluster certificates");
  certs->require_subcommand(1);
  auto* certs_init = certs->add_subcommand("init", "make the CA (once), loomd's and the nodes' certificates in DIR");
  std::string certs_dir;
  std::vector<std::string> cert_nodes;
  certs_init->add_option("dir", certs_dir, "certificate directory (copy ca.crt and node-<name>.* to each node)")->required();
  certs_init->add_option("--node", cert_nodes, "a node name to make a certificate for; repeatable");

  auto* token = app.add_subcommand("token", "users' bearer tokens (admin)");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand("create", "a new token for a tenant; printed once");
  std::string token_tenant, token_expires, token_id;
  bool token_admin = false;
  token_create->add_option("--tenant", token_tenant, "the tenant it acts for")->required();
  token_create->add_flag("--admin", token_admin, "may act for every tenant, on nodes and on tokens");
  token_create->add_option("--expires", token_expires, "lifetime (30d, 12h, ...); default never");
  auto* token_list = token->add_subcommand("list", "every token (not their secrets)");
  auto* token_revoke = token->add_subcommand("revoke", "a token stops working at once");
  token_revoke->add_option("id", token_id, "token id (loom token list)")->required();

  // Options given after the subcommand (loom queue --json) count too.
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->fallthrough();
    for (CLI::App* nested : sub->get_subcommands({})) nested->fallthrough();
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known |= argc > 1 && sub->get_name() == argv[1];
    if (argc > 1 && argv[1][0] != '-' && !known) {
      return Error("unknown command '" + std::string(argv[1]) + "' (see loom --help)");
    }
    return Error(e.what() + std::string(" (see loom --help)"));
  }

  if (g.insecure) setenv("LOOM_INSECURE", "1", 1);  // Client::Connect, and loom up's processes
  if (*certs_init) return CertsInit(certs_dir, cert_nodes);
  if (*token_create) return TokenCreate(g, token_tenant, token_admin, token_expires);
  if (*token_list) return TokenList(g);
  if (*token_revoke) return TokenRevoke(g, token_id);
  if (*submit) {
    flags.set_gpus(gpus);
    flags.set_gpus_per_node(per_node);
    flags.set_priority(priority);
    flags.set_mpi(mpi);
    flags.set_name(name);
    flags.set_tenant(tenant);
    flags.set_workdir(workdir);
    if (submit->count("--gpus") && gpus <= 0) return Error("--gpus must be at least 1 (got " + std::to_string(gpus) + ")");
    if (per_node < 0) return Error("--gpus-per-node must be positive");
    if (submit->count("--tasks-per-node") && tasks_per_node <= 0) {
      return Error("--tasks-per-node must be at least 1 (got " + std::to_string(tasks_per_node) + ")");
    }
    flags.set_tasks_per_node(tasks_per_node);
    if (!time_text.empty()) {
      auto seconds = loom::ParseDuration(time_text);
      if (!seconds.ok()) return Error(seconds.status().message());
      if (*seconds <= 0) return Error("--time must be longer than 0");
      flags.set_time_limit_s(*seconds);
    }
    flags.set_qos(qos);
    if (!leaf.empty()) flags.set_leaf(*ParseLeafPolicy(leaf));  // CLI11 checked the spelling
    if (!leaf_wait.empty()) {
      auto seconds = loom::ParseDuration(leaf_wait);
      if (!seconds.ok()) return Error("--leaf-wait: " + seconds.status().message());
      flags.set_leaf_wait_s(*seconds);
    }
    for (const std::string& kv : env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return Error("--env '" + kv + "' is not KEY=VALUE");
      (*flags.mutable_env())[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (!signal_text.empty()) {
      if (loom::Status s = ParseSignalSpec(signal_text, flags); !s.ok()) return Error(s.message());
    }
    if (!grace_text.empty()) {
      if (loom::Status s = ParseGrace(grace_text, flags); !s.ok()) return Error(s.message());
    }
    if (submit->count("--max-requeues")) flags.set_max_requeues(max_requeues);
    if (loom::Status s = CheckRequeue(flags); !s.ok()) return Error(s.message());
    flags.set_no_requeue(no_requeue);
    flags.set_hold(hold);
    if (submit->count("--dependency")) {
      if (loom::Status s = ParseDependencies(dependency, flags); !s.ok()) return Error(s.message());
    }
    if (submit->count("--array")) {
      if (auto parsed = loom::ParseArraySpec(array); !parsed.ok()) return Error(parsed.status().message());
      if (wait) return Error("--wait follows one job, not an array (submit a job with -d afterany:ARRAY_ID --wait)");
      flags.set_array(array);
    }
    for (const std::string& c : command) flags.add_command(c);
    return Submit(g, flags, file, wait);
  }
  if (*queue) return Queue(g, all, states, limit);
  if (*show) return Show(g, job);
  if (*cancel) return Cancel(g, jobs);
  if (*hold_cmd) return Hold(g, hold_jobs);
  if (*release_cmd) return Release(g, release_jobs);
  if (*nodes) return Nodes(g);
  if (*logs) return Logs(g, job, rank, err, follow);
  if (*stats) return Stats(g, since);
  if (*history) return History(g, history_flags);
  if (*export_trace) return ExportTrace(g, trace_since, trace_until, trace_out);
  if (*drain) return Drain(g, drain_nodes, drain_reason, drain_requeue);
  if (*resume) return Resume(g, resume_nodes);
  if (*up) return Up(g, up_options);
  if (*completion) {
    std::fputs(BashCompletion(app, "loom").c_str(), stdout);
    return 0;
  }
  return Error("unknown command (see loom --help)");
}
