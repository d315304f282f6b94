#include "cli/history.h"


#include <cstdio>
#include <ctime>
#include <optional>

#include "cli/client.h"
#include "cli/job_format.h"
#include "cli/table.h"
#include "common/clock.h"
#include "common/duration.h"

namespace loom::cli {
namespace {

constexpr v1::JobState kFinal[] = {v1::COMPLETED, v1::FAILED, v1::CANCELLED, v1::NODE_FAIL, v1::TIMEOUT};

// A local date and time in one of the forms ParseWhen names; nullopt for anything else.
std::optional<int64_t> ParseLocalTime(const std::string& text) {
  for (const char* format : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"}) {
    tm t {};
    const char* end = strptime(text.c_str(), format, &t);
    if (!end || *end != '\0') continue;
    t.tm_isdst = -1;  // the local rule for that date
    const time_t s = mktime(&t);
    if (s == static_cast<time_t>(-1)) return std::nullopt;
    return static_cast<int64_t>(s) * 1000;
  }
  return std::nullopt;
}

}  // namespace

StatusOr<int64_t> ParseWhen(const std::string& text, int64_t now_ms) {
  if (text == "now") return now_ms;
  if (auto at = ParseLocalTime(text)) return *at;
  auto ago = ParseDuration(text);
  if (!ago.ok() || text.empty()) {
    return InvalidArgument("invalid time '" + text + "': use a duration back from now (7d, 12h, 90m) or a date " +
                           "(2026-12-01, 2026-12-01T08:30)");
  }
  return now_ms - *ago * 1000;
}

StatusOr<v1::ListJobsRequest> HistoryRequest(const HistoryFlags& flags, int64_t now_ms) {
  v1::ListJobsRequest req;
  req.set_include_finished(true);
  LOOM_ASSIGN_OR_RETURN(const int64_t since, ParseWhen(flags.since, now_ms));
  int64_t until = 0;
  if (!flags.until.empty()) {
    LOOM_ASSIGN_OR_RETURN(until, ParseWhen(flags.until, now_ms));
    if (until <= since) return InvalidArgument("--until must be after --since");
  }
  req.mutable_window()->set_from_ms(std::max<int64_t>(since, 0));
  req.mutable_window()->set_to_ms(until);
  for (const std::string& name : flags.states) {
    v1::JobState s;
    if (!v1::JobState_Parse(name, &s) || s == v1::JOB_STATE_UNSPECIFIED) {
      return InvalidArgument("unknown state '" + name + "' (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, NODE_FAIL, TIMEOUT)");
    }
    req.add_states(s);
  }
  if (flags.states.empty()) {
    for (v1::JobState s : kFinal) req.add_states(s);
  }
  if (flags.limit < 0) return InvalidArgument("--limit must not be negative");
  req.set_tenant(flags.tenant);
  req.set_name(flags.name);
  return req;
}

int History(const Global& g, const HistoryFlags& flags) {
  const int64_t now = SystemClock().NowMs();
  auto req = HistoryRequest(flags, now);
  if (!req.ok()) return Error(req.status().message());
  auto client = Client::Connect(g.server, g.home);
  if (!client.ok()) return Error(client.status().message());
  std::vector<v1::Job> jobs;
  // Pages until the history ends or --limit jobs are in.
  for (;;) {
    if (flags.limit > 0) req->set_limit(flags.limit - static_cast<int>(jobs.size()));
    v1::ListJobsReply page;
    Status s = client->Call(&v1::Scheduler::Stub::ListJobs, *req, &page);
    if (!s.ok()) return Error(s.message());
    for (v1::Job& j : *page.mutable_jobs()) jobs.push_back(std::move(j));
    if (page.next_page_token().empty() || (flags.limit > 0 && static_cast<int>(jobs.size()) >= flags.limit)) break;
    req->set_page_token(page.next_page_token());
  }
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const v1::Job& j : jobs) out.push_back(HistoryJson(j, now));
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  Table t(HistoryHeader());
  for (const v1::Job& j : jobs) t.Add(HistoryRow(j, now));
  t.Print();
  return 0;
}

}  // namespace loom::cli
