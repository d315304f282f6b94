#include "cli/commands.h"

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/client.h"
#include "cli/job_control.h"
#include "cli/job_file.h"
#include "cli/job_format.h"
#include "cli/progress.h"
#include "cli/sparkline.h"
#include "cli/table.h"
#include "common/clock.h"
#include "common/duration.h"

namespace loom::cli {
namespace {

int64_t NowMs() { return SystemClock().NowMs(); }

int PrintJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, options).ok()) return Error("cannot encode JSON");
  std::printf("%s", out.c_str());
  return 0;
}

StatusOr<int64_t> ParseJobId(const std::string& text) {
  char* end = nullptr;
  long long id = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || id <= 0) return InvalidArgument("invalid job id '" + text + "'");
  return static_cast<int64_t>(id);
}

std::string StateName(v1::JobState s) { return v1::JobState_Name(s); }

constexpr const char* kStateNames[] = {"PENDING", "RUNNING", "COMPLETED", "FAILED",
                                       "CANCELLED", "NODE_FAIL", "TIMEOUT"};

std::string CauseName(v1::EndCause c) {
  std::string name = v1::EndCause_Name(c);
  return name.rfind("CAUSE_", 0) == 0 ? name.substr(6) : name;
}

std::string NodeList(const v1::Job& job) {
  std::string out;
  for (const auto& a : job.allocation()) out += (out.empty() ? "" : ",") + a.node();
  return out;
}

std::string Elapsed(const v1::Job& job) { return FormatDuration(ElapsedSeconds(job, NowMs())); }

// START, as squeue --start shows it: when a pending job is expected to start (in so long), or
// when a started job did.
std::string StartColumn(const v1::Job& job) {
  if (job.state() == v1::PENDING) {
    if (job.expected_start_ms() == 0) return "N/A";
    return "in " + FormatDuration(std::max<int64_t>(0, (job.expected_start_ms() - NowMs()) / 1000));
  }
  if (job.start_time_ms() == 0) return "-";
  time_t t = static_cast<time_t>(job.start_time_ms() / 1000);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", std::localtime(&t));
  return buf;
}

std::string IntList(const auto& values) {
  std::string out;
  for (int v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

#define LOOM_CLI_CONNECT(client, g)                     \
  auto client##_or = Client::Connect((g).server, (g).home); \
  if (!client##_or.ok()) return Error(client##_or.status().message()); \
  Client& client = *client##_or

}  // namespace

int Error(const std::string& message) {
  std::fprintf(stderr, "loom: %s\n", message.c_str());
  return 1;
}

int Submit(const Global& g, v1::JobSpec flags, const std::string& file, bool wait) {
  v1::JobSpec spec;
  if (!file.empty()) {
    auto loaded = LoadJobFile(file);
    if (!loaded.ok()) return Error(loaded.status().message());
    spec = std::move(*loaded);
  }
  // Flags given on the command line override the file.
  if (!flags.name().empty()) spec.set_name(flags.name());
  if (!flags.tenant().empty()) spec.set_tenant(flags.tenant());
  if (flags.gpus() != 0) spec.set_gpus(flags.gpus());
  if (flags.gpus_per_node() != 0) spec.set_gpus_per_node(flags.gpus_per_node());
  if (flags.tasks_per_node() != 0) spec.set_tasks_per_node(flags.tasks_per_node());
  if (flags.time_limit_s() != 0) spec.set_time_limit_s(flags.time_limit_s());
  if (flags.priority() != 0) spec.set_priority(flags.priority());
  if (flags.qos() != 0) spec.set_qos(flags.qos());
  if (flags.leaf() != v1::LEAF_FEWEST) spec.set_leaf(flags.leaf());
  if (flags.leaf_wait_s() != 0) spec.set_leaf_wait_s(flags.leaf_wait_s());
  if (flags.mpi()) spec.set_mpi(true);
  if (flags.signal() != 0) {
    spec.set_signal(flags.signal());
    spec.set_signal_before_s(flags.signal_before_s());
  }
  if (flags.grace_s() != 0) spec.set_grace_s(flags.grace_s());
  if (flags.has_max_requeues()) spec.set_max_requeues(flags.max_requeues());
  if (flags.no_requeue()) spec.set_no_requeue(true);
  if (!flags.workdir().empty()) spec.set_workdir(flags.workdir());
  if (flags.hold()) spec.set_hold(true);
  if (flags.dependencies_size() > 0) *spec.mutable_dependencies() = flags.dependencies();
  if (!flags.array().empty()) spec.set_array(flags.array());
  if (flags.command_size() > 0) *spec.mutable_command() = flags.command();
  for (const auto& [k, v] : flags.env()) (*spec.mutable_env())[k] = v;
  if (spec.gpus() == 0 && file.empty()) spec.set_gpus(1);  // like sbatch: one task by default
  // With tokens, loomd charges the token's tenant; a plaintext loomd has only the user's word.
  if (spec.tenant().empty() && g.insecure) {
    const char* user = std::getenv("USER");
    spec.set_tenant(user && *user ? user : "default");
  }
  if (spec.command().empty()) return Error("no command: loom submit [options] -- PROGRAM ARGS..., or a job file with 'command'");
  if (spec.workdir().empty()) {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd))) spec.set_workdir(cwd);  // like sbatch: where you submitted from
  }

  LOOM_CLI_CONNECT(client, g);
  v1::SubmitRequest req;
  *req.mutable_spec() = spec;
  v1::SubmitReply reply;
  Status s = client.Call(&v1::Scheduler::Stub::Submit, req, &reply);
  if (!s.ok()) return Error(s.message());
  if (g.json && !wait) return PrintJson(reply);
  if (!g.json) std::printf("Submitted job %lld\n", static_cast<long long>(reply.job_id()));  // an array's id too
  std::fflush(stdout);
  if (!wait) return 0;

  v1::GetJobRequest get;
  get.set_job_id(reply.job_id());
  v1::Job job, seen;
  bool seen_any = false;
  for (;;) {
    s = client.Call(&v1::Scheduler::Stub::GetJob, get, &job);
    if (!s.ok()) return Error(s.message());
    if (IsFinal(job.state())) break;
    if (std::string line = StateChange(seen_any ? &seen : nullptr, job); !line.empty() && !g.json) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
    seen = job;
    seen_any = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (g.json) return PrintJson(job);
  std::printf("Job %lld %s%s\n", static_cast<long long>(job.id()), StateName(job.state()).c_str(),
              job.reason().empty() ? "" : (" (" + job.reason() + ")").c_str());
  return job.state() == v1::COMPLETED ? 0 : (job.exit_code() > 0 ? job.exit_code() : 1);
}

int Queue(const Global& g, bool all, const std::vector<std::string>& states, int limit) {
  v1::ListJobsRequest req;
  for (const std::string& name : states) {
    v1::JobState s;
    if (!v1::JobState_Parse(name, &s) || s == v1::JOB_STATE_UNSPECIFIED) {
      std::string known;
      for (const char* n : kStateNames) known += (known.empty() ? "" : ", ") + std::string(n);
      return Error("unknown state '" + name + "' (" + known + ")");
    }
    req.add_states(s);
  }
  if (!all && states.empty()) {
    req.add_states(v1::PENDING);
    req.add_states(v1::RUNNING);
  }
  if (limit < 0) return Error("--limit must not be negative");
  req.set_include_finished(all);  // --all: the whole history, from loomd's database
  LOOM_CLI_CONNECT(client, g);
  v1::ListJobsReply reply;
  // Pages until the history ends or `limit` jobs are shown.
  for (;;) {
    if (limit > 0) req.set_limit(limit - reply.jobs_size());
    v1::ListJobsReply page;
    Status s = client.Call(&v1::Scheduler::Stub::ListJobs, req, &page);
    if (!s.ok()) return Error(s.message());
    for (v1::Job& j : *page.mutable_jobs()) *reply.add_jobs() = std::move(j);
    if (page.next_page_token().empty() || (limit > 0 && reply.jobs_size() >= limit)) break;
    req.set_page_token(page.next_page_token());
  }
  if (g.json) return PrintJson(reply);
  Table t({"JOBID", "NAME", "TENANT", "STATE", "GPUS", "NODES", "TIME", "START", "NODELIST(REASON)"});
  std::vector<const v1::Job*> listed;
  for (const v1::Job& j : reply.jobs()) listed.push_back(&j);
  for (const QueueRow& row : CollapseArrays(listed)) {  // an array's pending tasks: one row
    const v1::Job& j = *row.job;
    const int nodes = j.spec().gpus_per_node() > 0 ? j.spec().gpus() / j.spec().gpus_per_node() : 0;
    std::string where = j.state() == v1::PENDING ? "(" + j.reason() + ")" : NodeList(j);
    if (j.state() != v1::PENDING && j.state() != v1::RUNNING && !j.reason().empty()) where += " (" + j.reason() + ")";
    t.Add({row.id, j.spec().name(), j.spec().tenant(), StateName(j.state()),
           std::to_string(j.spec().gpus()), std::to_string(nodes), Elapsed(j), StartColumn(j), where});
  }
  t.Print();
  return 0;
}

std::string Number(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

// What the job's runs reported of their training steps: MFU, the mean step's breakdown and the
// MFU over time. Nothing for jobs that reported no steps.
template <typename Line>
void PrintTraining(const v1::Job& j, const Line& line) {
  if (j.runs_size() == 0) return;
  int lost = 0;
  for (const v1::JobRun& r : j.runs()) lost += r.lost();
  if (j.runs_size() > 1 || lost > 0) {
    line("Runs", std::to_string(j.runs_size()) + " (" + std::to_string(lost) + " lost)");
  }
  int last = j.runs_size() - 1;
  while (last >= 0 && j.runs(last).steps() == 0) --last;
  if (last < 0) return;
  const v1::JobRun& r = j.runs(last);
  const double n = static_cast<double>(r.steps());
  const double step = r.step_time_s() / n, compute = r.compute_s() / n, exposed = r.exposed_comm_s() / n;
  line("Steps", std::to_string(r.steps()) + (j.runs_size() > 1 ? " in run " + std::to_string(last + 1) : "") +
                    Number(", mean %.1f ms = ", step * 1e3) + Number("compute %.1f", compute * 1e3) +
                    Number(" + exposed comm %.1f", exposed * 1e3) +
                    Number(" + other %.1f ms", std::max(0.0, step - compute - exposed) * 1e3));
  const double mfu = r.peak_flops() > 0 && r.step_time_s() > 0 ? r.model_flops() / (r.step_time_s() * r.peak_flops()) : -1;
  line("MFU", Percent(mfu) + Number(" (%.4g TFLOP/s of model FLOPs", r.model_flops() / r.step_time_s() / 1e12) +
                  Number(" on %.4g TFLOP/s peak", r.peak_flops() / 1e12) +
                  Number("; all-reduce busbw %.2f GB/s)", r.busbw_gbps()));
  if (j.mfu_series_size() > 0) {
    const std::vector<double> series(j.mfu_series().begin(), j.mfu_series().end());
    line("MFU history", Sparkline(series, 0) + "  (per metrics bucket, peak " +
                            Percent(*std::max_element(series.begin(), series.end())) + ")");
  }
}

int Show(const Global& g, const std::string& job_text) {
  auto ref = ParseRef(job_text);
  if (!ref.ok()) return Error(ref.status().message());
  LOOM_CLI_CONNECT(client, g);
  v1::GetJobRequest req;
  req.set_job_id(ref->job_id());
  if (ref->has_array_task()) {  // 12_7: the task's own job id, from the array's list
    v1::ListJobsRequest list;
    list.set_array_job_id(ref->job_id());
    list.set_array_task(ref->array_task());
    v1::ListJobsReply found;
    Status s = client.Call(&v1::Scheduler::Stub::ListJobs, list, &found);
    if (!s.ok()) return Error(s.message());
    if (found.jobs_size() == 0) return Error("no task " + job_text + " (no such array, or no such task in it)");
    req.set_job_id(found.jobs(0).id());
  }
  v1::Job j;
  Status s = client.Call(&v1::Scheduler::Stub::GetJob, req, &j);
  if (!s.ok()) return Error(s.message());
  if (g.json) return PrintJson(j);
  auto line = [](const char* k, const std::string& v) { std::printf("%-14s %s\n", k, v.c_str()); };
  std::string command;
  for (const auto& a : j.spec().command()) command += (command.empty() ? "" : " ") + a;
  line("JobId", std::to_string(j.id()));
  if (j.array().array_job_id() != 0) {
    line("ArrayJob", JobIdText(j) + " (task " + std::to_string(j.array().task_id()) + " of " +
                         std::to_string(j.array().task_count()) +
                         (j.array().max_running() > 0 ? ", at most " + std::to_string(j.array().max_running()) + " at once)" : ")"));
  }

  line("Name", j.spec().name());
  line("Tenant", j.spec().tenant());
  line("State", StateName(j.state()) + (j.reason().empty() ? "" : " (" + j.reason() + ")"));
  if (j.held()) line("Held", "yes (loom release " + JobIdText(j) + ")");
  if (j.spec().dependencies_size() > 0) {
    std::string deps;
    for (const v1::Dependency& d : j.spec().dependencies()) {
      std::string term = v1::DependencyType_Name(d.type());
      std::transform(term.begin(), term.end(), term.begin(), ::tolower);
      term.erase(std::remove(term.begin(), term.end(), '_'), term.end());
      if (d.type() != v1::SINGLETON) term += ":" + std::to_string(d.job_id());
      deps += (deps.empty() ? "" : ",") + term;
    }
    line("Dependency", deps + " (" + std::to_string(j.pending_dependencies_size()) + " unsatisfied)");
  }  line("ExitCode", std::to_string(j.exit_code()));
  line("Priority", std::to_string(j.spec().priority()) + " (QoS " + std::to_string(j.spec().qos()) + ")");
  if (j.spec().leaf() != v1::LEAF_FEWEST) line("Leaf", v1::LeafPolicy_Name(j.spec().leaf()));
  line("Gpus", std::to_string(j.spec().gpus()) + " (" + std::to_string(j.spec().gpus_per_node()) + " per node)");
  line("Tasks", TasksLine(j.spec()));
  line("TimeLimit", FormatDuration(j.spec().time_limit_s()));
  line("RunTime", Elapsed(j));
  line("Mpi", j.spec().mpi() ? "yes" : "no");
  line("Command", command);
  line("WorkDir", j.spec().workdir());
  for (const auto& a : j.allocation()) line("Allocation", a.node() + " gpus " + IntList(a.gpu_indices()));
  line("MasterPort", std::to_string(j.master_port()));
  if (j.expected_start_ms() > 0) line("ExpectedStart", StartColumn(j));
  if (j.preempted_for() > 0) line("Preempting", "for job " + std::to_string(j.preempted_for()));
  if (j.preemptions() > 0) line("Preemptions", std::to_string(j.preemptions()));
  if (j.attempt() > 0) {
    line("Attempt", std::to_string(j.attempt()) + " (" + std::to_string(j.requeues()) + " requeues)");
  }
  if (j.runs_size() > 0 && j.runs(0).start_ms() > 0) {
    double useful = 0;
    for (const v1::JobRun& r : j.runs()) useful += r.lost() ? 0 : r.step_time_s();
    const int64_t end = j.end_time_ms() > 0 ? j.end_time_ms() : NowMs();
    const double wall = (end - j.runs(0).start_ms()) / 1000.0;
    if (useful > 0 && wall > 0) line("ETTR", Percent(useful / wall) + " (useful step time / first start to end)");
  }
  for (const v1::JobRun& r : j.runs()) {
    std::string nodes;
    for (const std::string& n : r.nodes()) nodes += (nodes.empty() ? "" : ",") + n;
    std::string end = r.end_ms() > 0 ? FormatTime(r.end_ms()) : "running";
    std::string cause = r.cause() == v1::END_CAUSE_UNSPECIFIED ? "" : "  " + CauseName(r.cause());
    if (!r.detail().empty()) cause += " (" + r.detail() + ")";
    line(("Attempt " + std::to_string(r.attempt())).c_str(),
         FormatTime(r.start_ms()) + " .. " + end + "  " + (nodes.empty() ? "-" : nodes) + cause);
  }
  PrintTraining(j, line);
  std::string factors;
  for (const auto& f : j.priority_factors()) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s%s=%.4g", factors.empty() ? "" : " ", f.name().c_str(), f.value());
    factors += buf;
  }
  if (!factors.empty()) line("PriorityFactors", factors);
  return 0;
}

int Cancel(const Global& g, const std::vector<std::string>& jobs) {
  std::vector<v1::JobRef> refs;
  for (const std::string& text : jobs) {  // all ids are checked before anything is cancelled
    auto ref = ParseRef(text);
    if (!ref.ok()) return Error(ref.status().message());
    refs.push_back(*ref);
  }
  LOOM_CLI_CONNECT(client, g);
  int rc = 0;
  for (size_t i = 0; i < refs.size(); ++i) {  // each on its own: one that ended spoils no other
    v1::JobsRequest req;
    *req.add_jobs() = refs[i];
    v1::JobsReply reply;
    Status s = client.Call(&v1::Scheduler::Stub::CancelJobs, req, &reply);
    if (!s.ok()) {
      rc = Error(s.message());
      continue;
    }
    if (g.json) {
      for (const v1::Job& job : reply.jobs()) PrintJson(job);
    } else {
      std::printf("Cancelled job %s\n", jobs[i].c_str());
    }
  }
  return rc;
}

int Nodes(const Global& g) {
  LOOM_CLI_CONNECT(client, g);
  v1::ListNodesReply reply;
  Status s = client.Call(&v1::Scheduler::Stub::ListNodes, v1::ListNodesRequest(), &reply);
  if (!s.ok()) return Error(s.message());
  if (g.json) return PrintJson(reply);
  Table t({"NODE", "STATE", "GPUS", "ALLOC", "MODEL", "UTIL", "LABELS", "ADDRESS", "REASON"});
  for (const v1::Node& n : reply.nodes()) {
    std::string labels;
    const std::map<std::string, std::string> sorted(n.labels().begin(), n.labels().end());
    for (const auto& [k, v] : sorted) labels += (labels.empty() ? "" : ",") + k + "=" + v;
    double util = 0;
    for (const auto& gpu : n.gpus()) util += gpu.utilization();
    char util_text[16];
    std::snprintf(util_text, sizeof(util_text), "%.0f%%", n.gpus_size() ? 100 * util / n.gpus_size() : 0.0);
    std::string model = n.gpus_size() ? n.gpus(0).model() + (n.gpus(0).emulated() ? " (emulated)" : "") : "-";
    t.Add({n.name(), v1::NodeState_Name(n.state()), std::to_string(n.gpus_size()),
           std::to_string(n.allocated_gpus_size()), model, util_text, labels.empty() ? "-" : labels,
           n.address(), n.reason().empty() ? "-" : n.reason()});
  }
  t.Print();
  return 0;
}

int Drain(const Global& g, const std::vector<std::string>& nodes, const std::string& reason,
          bool requeue) {
  LOOM_CLI_CONNECT(client, g);
  v1::DrainRequest req;
  for (const std::string& n : nodes) req.add_nodes(n);
  req.set_reason(reason);
  req.set_requeue(requeue);
  v1::DrainReply reply;
  Status s = client.Call(&v1::Scheduler::Stub::Drain, req, &reply);
  if (!s.ok()) return Error(s.message());
  if (g.json) return PrintJson(reply);
  for (const v1::Node& n : reply.nodes()) {
    std::printf("%s %s (%s)\n", n.name().c_str(), v1::NodeState_Name(n.state()).c_str(), n.reason().c_str());
  }
  return 0;
}

int Resume(const Global& g, const std::vector<std::string>& nodes) {
  LOOM_CLI_CONNECT(client, g);
  v1::ResumeRequest req;
  for (const std::string& n : nodes) req.add_nodes(n);
  v1::ResumeReply reply;
  Status s = client.Call(&v1::Scheduler::Stub::Resume, req, &reply);
  if (!s.ok()) return Error(s.message());
  if (g.json) return PrintJson(reply);
  for (const v1::Node& n : reply.nodes()) {
    std::printf("%s %s\n", n.name().c_str(), v1::NodeState_Name(n.state()).c_str());
  }
  return 0;
}

int Logs(const Global& g, const std::string& job_text, int rank, bool stderr_stream, bool follow) {
  auto id = ParseJobId(job_text);
  if (!id.ok()) return Error(id.status().message());
  LOOM_CLI_CONNECT(client, g);
  v1::ReadLogRequest req;
  req.set_job_id(*id);
  req.set_rank(rank);
  req.set_stderr(stderr_stream);
  for (;;) {
    v1::ReadLogReply reply;
    Status s = client.Call(&v1::Scheduler::Stub::ReadLog, req, &reply);
    if (!s.ok()) return Error(s.message());
    if (g.json) {  // one JSON object per chunk (JSON lines), text as UTF-8 with bad bytes replaced
      nlohmann::json chunk = {{"job_id", *id}, {"rank", rank}, {"stream", stderr_stream ? "stderr" : "stdout"},
                              {"offset", req.offset()}, {"data", reply.data()}, {"eof", reply.eof()}};
      std::printf("%s\n", chunk.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::fwrite(reply.data().data(), 1, reply.data().size(), stdout);
    }
    std::fflush(stdout);
    req.set_offset(reply.next_offset());
    if (reply.eof()) return 0;
    if (reply.data().empty()) {  // caught up with a rank that is still running
      if (!follow) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

int Stats(const Global& g, const std::string& since) {
  auto window_s = ParseDuration(since);
  if (!window_s.ok()) return Error("--since: " + window_s.status().message());
  if (*window_s <= 0) return Error("--since must be a positive duration, got '" + since + "'");
  LOOM_CLI_CONNECT(client, g);
  v1::GetStatsRequest request;
  request.set_window_ms(*window_s * 1000);
  v1::Stats stats;
  Status s = client.Call(&v1::Scheduler::Stub::GetStats, request, &stats);
  if (!s.ok()) return Error(s.message());
  if (g.json) return PrintJson(stats);
  std::printf("nodes        %d up, %d down\n", stats.nodes_up(), stats.nodes_down());
  std::printf("gpus         %d allocated of %d up (%d known), %d fragmented\n", stats.gpus_allocated(),
              stats.gpus_up(), stats.gpus_total(), stats.gpus_fragmented());
  std::string by_state;
  for (const char* name : kStateNames) {
    auto it = stats.jobs_by_state().find(name);
    by_state += std::string(by_state.empty() ? "" : ", ") + std::to_string(it == stats.jobs_by_state().end() ? 0 : it->second) + " " + name;
  }
  std::printf("jobs         %lld submitted: %s\n", static_cast<long long>(stats.jobs_submitted()), by_state.c_str());
  std::printf("mean wait    %.3f s (submit to start, all jobs)\n", stats.mean_wait_s());

  const v1::Efficiency& c = stats.cluster();
  std::printf("\nover the last %s (from %s):\n", FormatDuration(*window_s).c_str(),
              FormatTime(stats.window_start_ms()).c_str());
  std::printf("allocation   %s of %.3g GPU-hours available (%.3g allocated); GPUs busy %s\n",
              Percent(c.allocation_ratio()).c_str(), c.gpu_hours_available(), c.gpu_hours_allocated(),
              Percent(c.gpu_busy_ratio()).c_str());
  std::printf("cluster MFU  %s (%.4g model FLOPs)\n", Percent(c.mfu()).c_str(), c.model_flops());
  std::printf("goodput      %s of training jobs' GPU time in useful steps\n", Percent(c.goodput()).c_str());
  std::printf("ETTR         %s of training jobs' time from first start to end in useful steps\n",
              Percent(c.ettr()).c_str());
  if (c.lost_gpu_hours_size() > 0) {
    const std::map<std::string, double> lost(c.lost_gpu_hours().begin(), c.lost_gpu_hours().end());
    std::string text;
    for (const auto& [cause, hours] : lost) text += (text.empty() ? "" : ", ") + Number("%.3g ", hours) + cause;
    std::printf("lost         %s (GPU-hours of lost attempts)\n", text.c_str());
  }
  std::printf("queueing     mean %.3f s, p95 %.3f s over %d starts\n", c.queue_delay_mean_s(),
              c.queue_delay_p95_s(), c.runs_started());
  std::printf("fragmented   %s of available GPU time (mean %.2f GPUs idle, too scattered for the smallest pending job)\n",
              Percent(c.fragmentation()).c_str(), c.fragmented_gpus_mean());
  if (stats.tenants_size() == 0) return 0;
  std::printf("\n");
  Table t({"TENANT", "GPU-HOURS", "SHARE", "MFU", "GOODPUT", "QUEUE-MEAN", "QUEUE-P95", "STARTS", "PENDING"});
  for (const v1::TenantEfficiency& te : stats.tenants()) {
    const v1::Efficiency& e = te.efficiency();
    t.Add({te.tenant(), Number("%.3g", e.gpu_hours_allocated()), Percent(te.share_of_allocated()),
           Percent(e.mfu()), Percent(e.goodput()), Number("%.3f s", e.queue_delay_mean_s()),
           Number("%.3f s", e.queue_delay_p95_s()), std::to_string(e.runs_started()),
           std::to_string(te.pending_jobs())});
  }
  t.Print();
  return 0;
}

}  // namespace loom::cli
