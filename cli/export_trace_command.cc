// The I/O half of `loom export-trace` (cli/export_trace.h): page loomd's history, write the CSV.
#include <cstdio>
#include <fstream>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/export_trace.h"
#include "common/clock.h"
#include "common/duration.h"

namespace loom::cli {

int ExportTrace(const Global& g, const std::string& since, const std::string& until, const std::string& out) {
  auto since_s = ParseDuration(since);
  if (!since_s.ok()) return Error("--since: " + since_s.status().message());
  if (*since_s <= 0) return Error("--since must be a positive duration, got '" + since + "'");
  int64_t until_s = 0;
  if (!until.empty()) {
    auto u = ParseDuration(until);
    if (!u.ok()) return Error("--until: " + u.status().message());
    until_s = *u;
  }
  if (until_s >= *since_s) return Error("--until (" + until + " ago) must be later than --since (" + since + " ago)");
  const int64_t now = SystemClock().NowMs();
  const int64_t from_ms = now - *since_s * 1000, to_ms = now - until_s * 1000;
  auto client = Client::Connect(g.server, g.home);
  if (!client.ok()) return Error(client.status().message());
  v1::ListJobsRequest req;
  req.set_include_finished(true);
  for (v1::JobState s : {v1::COMPLETED, v1::FAILED, v1::CANCELLED, v1::NODE_FAIL, v1::TIMEOUT}) req.add_states(s);
  std::vector<v1::Job> jobs;
  for (;;) {
    v1::ListJobsReply page;
    Status s = client->Call(&v1::Scheduler::Stub::ListJobs, req, &page);
    if (!s.ok()) return Error(s.message());
    for (v1::Job& j : *page.mutable_jobs()) {
      if (InTrace(j, from_ms, to_ms)) jobs.push_back(std::move(j));
    }
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  const std::string csv = TraceCsv(std::move(jobs));
  if (out.empty() || out == "-") {
    std::fwrite(csv.data(), 1, csv.size(), stdout);
    return 0;
  }
  std::ofstream file(out, std::ios::trunc);
  if (!file || !(file << csv) || !file.flush()) return Error(out + ": cannot write");
  return 0;
}

}  // namespace loom::cli
