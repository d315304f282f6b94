#include "cli/job_control.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>

#include "cli/client.h"
#include "common/job_syntax.h"

namespace loom::cli {
namespace {

v1::DependencyType ToProto(DependencyTerm::Type t) {
  switch (t) {
    case DependencyTerm::kAfterOk: return v1::AFTER_OK;
    case DependencyTerm::kAfterAny: return v1::AFTER_ANY;
    case DependencyTerm::kAfterNotOk: return v1::AFTER_NOT_OK;
    case DependencyTerm::kSingleton: return v1::SINGLETON;
  }
  return v1::DEPENDENCY_UNSPECIFIED;
}

// Sends one Hold or Release for every job named; nothing changes unless all may be.
int ChangeJobs(const Global& g, const std::vector<std::string>& jobs, bool hold) {
  v1::JobsRequest req;
  for (const std::string& text : jobs) {
    auto ref = ParseRef(text);
    if (!ref.ok()) return Error(ref.status().message());
    *req.add_jobs() = *ref;
  }
  auto client = Client::Connect(g.server, g.home);
  if (!client.ok()) return Error(client.status().message());
  v1::JobsReply reply;
  Status s = hold ? client->Call(&v1::Scheduler::Stub::Hold, req, &reply)
                  : client->Call(&v1::Scheduler::Stub::Release, req, &reply);
  if (!s.ok()) return Error(s.message());
  if (g.json) {  // one line per job changed
    for (const v1::Job& j : reply.jobs()) {
      nlohmann::json line = {{"job_id", j.id()}, {"id", JobIdText(j)}, {"held", j.held()},
                             {"state", v1::JobState_Name(j.state())}, {"reason", j.reason()}};
      std::printf("%s\n", line.dump().c_str());
    }
    return 0;
  }
  for (const std::string& text : jobs) std::printf("%s job %s\n", hold ? "Held" : "Released", text.c_str());
  return 0;
}

}  // namespace

StatusOr<v1::JobRef> ParseRef(const std::string& text) {
  LOOM_ASSIGN_OR_RETURN(JobRefText parsed, ParseJobRef(text));
  v1::JobRef ref;
  ref.set_job_id(parsed.job_id);
  if (parsed.array_task) ref.set_array_task(*parsed.array_task);
  return ref;
}

Status ParseDependencies(const std::string& text, v1::JobSpec& spec) {
  LOOM_ASSIGN_OR_RETURN(std::vector<DependencyTerm> terms, ParseDependencySpec(text));
  for (const DependencyTerm& t : terms) {
    v1::Dependency* d = spec.add_dependencies();
    d->set_type(ToProto(t.type));
    d->set_job_id(t.job_id);
    if (t.array_task) d->set_array_task(*t.array_task);
  }
  return Status::Ok();
}

int Hold(const Global& g, const std::vector<std::string>& jobs) { return ChangeJobs(g, jobs, true); }
int Release(const Global& g, const std::vector<std::string>& jobs) { return ChangeJobs(g, jobs, false); }

std::string JobIdText(const v1::Job& job) {
  if (job.array().array_job_id() == 0) return std::to_string(job.id());
  return std::to_string(job.array().array_job_id()) + "_" + std::to_string(job.array().task_id());
}

std::vector<QueueRow> CollapseArrays(const std::vector<const v1::Job*>& jobs) {
  std::vector<QueueRow> rows;
  std::map<int64_t, size_t> group;           // array id → its collapsed row
  std::map<int64_t, std::vector<int>> tasks;  // array id → its pending tasks
  for (const v1::Job* j : jobs) {
    const int64_t array = j->array().array_job_id();
    if (array == 0 || j->state() != v1::PENDING) {
      rows.push_back({j, JobIdText(*j)});
      continue;
    }
    if (!group.count(array)) {
      group[array] = rows.size();
      rows.push_back({j, ""});
    }
    tasks[array].push_back(j->array().task_id());
  }
  for (const auto& [array, index] : group) {
    const std::vector<int>& t = tasks[array];
    const int limit = rows[index].job->array().max_running();
    std::string id = std::to_string(array) + "_";
    if (t.size() == 1 && limit == 0) {
      id += std::to_string(t[0]);
    } else {
      id += "[" + FormatTaskRanges(t) + (limit > 0 ? "%" + std::to_string(limit) : "") + "]";
    }
    rows[index].id = id;
  }
  return rows;
}

}  // namespace loom::cli
