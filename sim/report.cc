#include "sim/report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "scheduler/accounting/efficiency.h"
#include "sim/chart.h"

namespace loom::sim {
namespace {

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

std::string Fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Hours(double s) { return Fmt("%.2f h", s / 3600); }

nlohmann::json DistJson(const Distribution& d) {
  return {{"mean", d.mean}, {"p50", d.p50}, {"p95", d.p95}, {"p99", d.p99}, {"count", d.count}};
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

}  // namespace

Distribution Summarize(std::vector<double> v) {
  Distribution d;
  d.count = static_cast<int>(v.size());
  if (v.empty()) return d;
  double sum = 0;
  for (double x : v) sum += x;
  d.mean = sum / v.size();
  d.p50 = acct::Percentile(v, 50);
  d.p95 = acct::Percentile(v, 95);
  d.p99 = acct::Percentile(v, 99);
  return d;
}

Summary Summarize(const SimResult& r) {
  Summary s;
  std::vector<double> jct, queue;
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_tenant;
  double ettr_work = 0, ettr_wall = 0;
  for (const JobResult& j : r.jobs) {
    ++s.jobs;
    TenantSummary& t = s.tenants[j.tenant.empty() ? "(none)" : j.tenant];
    ++t.jobs;
    if (j.state == "COMPLETED") {
      ++s.completed;
      ++t.completed;
      jct.push_back(j.end_s - j.arrival_s);
      by_tenant[j.tenant.empty() ? "(none)" : j.tenant].first.push_back(j.end_s - j.arrival_s);
      ettr_work += j.gpus * j.useful_s;
      ettr_wall += j.gpus * (j.end_s - j.start_s);
      t.gpu_hours += j.gpus * (j.end_s - j.start_s) / 3600;
    } else if (j.state == "NODE_FAIL") {
      ++s.node_fail;
    } else if (j.state == "TIMEOUT") {
      ++s.timeout;
    } else if (j.state == "REFUSED") {
      ++s.refused;
    } else {
      ++s.unfinished;
    }
    if (j.start_s >= 0) {
      queue.push_back(j.queued_s);
      by_tenant[j.tenant.empty() ? "(none)" : j.tenant].second.push_back(j.queued_s);
    }
  }
  s.jct_s = Summarize(jct);
  s.queue_s = Summarize(queue);
  double all_hours = 0;
  for (auto& [name, t] : s.tenants) all_hours += t.gpu_hours;
  for (auto& [name, t] : s.tenants) {
    t.share = Ratio(t.gpu_hours, all_hours);
    t.jct_s = Summarize(by_tenant[name].first);
    t.queue_s = Summarize(by_tenant[name].second);
  }
  s.allocation = Ratio(r.gpu_allocated_s, r.gpu_up_s);
  s.goodput = Ratio(r.useful_gpu_s, r.gpu_allocated_s);
  s.cluster_mfu = Ratio(r.useful_flop, r.peak_flop);
  s.ettr = Ratio(ettr_work, ettr_wall);
  double frag = 0;
  for (const Sample& x : r.samples) frag += Ratio(x.gpus_fragmented, x.gpus_up);
  s.fragmentation = r.samples.empty() ? 0 : frag / r.samples.size();
  s.simulated_days = r.end_s / 86400;
  s.failures = r.failures;
  s.events = r.events;
  s.passes = r.passes;
  s.wall_s = r.wall_s;
  for (const auto& [cause, gpu_s] : r.lost_gpu_s) s.lost_gpu_hours[cause] = gpu_s / 3600;
  s.checkpoint_gpu_hours = r.checkpoint_gpu_s / 3600;
  s.restart_gpu_hours = r.restart_gpu_s / 3600;
  return s;
}

std::string SummaryText(const Summary& s) {
  std::ostringstream o;
  auto dist = [&](const char* name, const Distribution& d) {
    o << name << "  mean " << Hours(d.mean) << "  p50 " << Hours(d.p50) << "  p95 " << Hours(d.p95)
      << "  p99 " << Hours(d.p99) << "  (" << d.count << " jobs)\n";
  };
  o << "jobs " << s.jobs << ": completed " << s.completed << ", node_fail " << s.node_fail
    << ", timeout " << s.timeout << ", refused " << s.refused << ", unfinished " << s.unfinished << "\n";
  dist("JCT     ", s.jct_s);
  dist("queueing", s.queue_s);
  o << "allocation " << Fmt("%.1f%%", 100 * s.allocation) << "  goodput " << Fmt("%.1f%%", 100 * s.goodput)
    << "  cluster MFU " << Fmt("%.1f%%", 100 * s.cluster_mfu) << "  ETTR " << Fmt("%.3f", s.ettr)
    << "  fragmentation " << Fmt("%.2f%%", 100 * s.fragmentation) << "\n";
  o << "failures " << s.failures << "; lost GPU-hours:";
  if (s.lost_gpu_hours.empty()) o << " none";
  for (const auto& [cause, h] : s.lost_gpu_hours) o << " " << cause << " " << Fmt("%.1f", h);
  o << "; checkpoint writes " << Fmt("%.1f", s.checkpoint_gpu_hours) << ", restarts "
    << Fmt("%.1f", s.restart_gpu_hours) << " GPU-hours\n";
  o << "tenant            jobs  done  GPU-hours   share  mean JCT   mean queue\n";
  for (const auto& [name, t] : s.tenants) {
    char line[160];
    std::snprintf(line, sizeof line, "%-16s %5d %5d %10.1f %6.1f%% %9s %12s\n", name.c_str(), t.jobs,
                  t.completed, t.gpu_hours, 100 * t.share, Hours(t.jct_s.mean).c_str(),
                  Hours(t.queue_s.mean).c_str());
    o << line;
  }
  o << Fmt("%.2f", s.simulated_days) << " simulated days, " << s.events << " events, " << s.passes
    << " passes in " << Fmt("%.2f", s.wall_s) << " s (" << Fmt("%.0f", Ratio(s.events, s.wall_s))
    << " events/s, " << Fmt("%.0f", Ratio(s.passes, s.wall_s)) << " passes/s)\n";
  return o.str();
}

nlohmann::json SummaryJson(const Summary& s) {
  nlohmann::json tenants = nlohmann::json::object();
  for (const auto& [name, t] : s.tenants) {
    tenants[name] = {{"jobs", t.jobs}, {"completed", t.completed}, {"gpu_hours", t.gpu_hours},
                     {"share", t.share}, {"jct_s", DistJson(t.jct_s)}, {"queue_s", DistJson(t.queue_s)}};
  }
  return {{"jobs", s.jobs}, {"completed", s.completed}, {"node_fail", s.node_fail},
          {"timeout", s.timeout}, {"refused", s.refused}, {"unfinished", s.unfinished},
          {"jct_s", DistJson(s.jct_s)}, {"queue_s", DistJson(s.queue_s)},
          {"allocation", s.allocation}, {"goodput", s.goodput}, {"cluster_mfu", s.cluster_mfu},
          {"ettr", s.ettr}, {"fragmentation", s.fragmentation},
          {"lost_gpu_hours", s.lost_gpu_hours}, {"checkpoint_gpu_hours", s.checkpoint_gpu_hours},
          {"restart_gpu_hours", s.restart_gpu_hours}, {"failures", s.failures},
          {"simulated_days", s.simulated_days}, {"events", s.events}, {"passes", s.passes},
          {"wall_s", s.wall_s}, {"tenants", tenants}};
}

nlohmann::json RunJson(const Summary& s, const SimResult& r) {
  nlohmann::json jobs = nlohmann::json::array();
  for (const JobResult& j : r.jobs) {
    nlohmann::json row = {{"id", j.id}, {"name", j.name}, {"tenant", j.tenant}, {"gpus", j.gpus},
                          {"arrival_s", j.arrival_s},
                          {"start_s", j.start_s >= 0 ? nlohmann::json(j.start_s) : nlohmann::json()},
                          {"end_s", j.end_s >= 0 ? nlohmann::json(j.end_s) : nlohmann::json()},
                          {"attempts", j.attempts}, {"state", j.state}, {"work_s", j.work_s},
                          {"queued_s", j.queued_s}};
    if (!j.refused_why.empty()) row["refused"] = j.refused_why;
    jobs.push_back(std::move(row));
  }
  nlohmann::json over_time = nlohmann::json::array();
  for (const Sample& x : r.samples) {
    over_time.push_back({{"t_s", x.t_s}, {"gpus_up", x.gpus_up}, {"gpus_allocated", x.gpus_allocated},
                         {"gpus_fragmented", x.gpus_fragmented}, {"pending", x.pending},
                         {"running", x.running}});
  }
  return {{"summary", SummaryJson(s)}, {"jobs", jobs}, {"over_time", over_time}};
}

Status WriteHtmlReport(const std::string& path, const std::string& title, const Summary& s,
                       const SimResult& r) {
  ChartSeries alloc{"allocated share of UP GPUs", {}}, up{"UP share of all GPUs", {}}, queue{"pending jobs", {}};
  const double total = r.samples.empty() ? 0 : r.samples.front().gpus_up;
  for (const Sample& x : r.samples) {
    alloc.points.push_back({x.t_s / 3600, Ratio(x.gpus_allocated, x.gpus_up)});
    up.points.push_back({x.t_s / 3600, Ratio(x.gpus_up, total)});
    queue.points.push_back({x.t_s / 3600, static_cast<double>(x.pending)});
  }
  std::vector<double> jct;
  for (const JobResult& j : r.jobs)
    if (j.state == "COMPLETED") jct.push_back((j.end_s - j.arrival_s) / 3600);
  std::sort(jct.begin(), jct.end());
  ChartSeries cdf{"completed jobs", {}};
  for (size_t i = 0; i < jct.size(); ++i) cdf.points.push_back({jct[i], (i + 1.0) / jct.size()});
  ChartSeries shares{"share of GPU-hours", {}};
  std::vector<std::string> names;
  for (const auto& [name, t] : s.tenants) {
    shares.points.push_back({static_cast<double>(names.size()), t.share});
    names.push_back(name);
  }
  std::vector<ChartSpec> charts = {
      {"Utilization over time", "hours", "share", ChartSpec::Kind::kSteps, {alloc, up}, {}},
      {"Queue over time", "hours", "pending jobs", ChartSpec::Kind::kSteps, {queue}, {}},
      {"JCT CDF", "job completion time (hours)", "fraction of jobs", ChartSpec::Kind::kLines, {cdf}, {}},
      {"Tenants' shares", "tenant", "share of GPU-hours", ChartSpec::Kind::kBars, {shares}, names},
  };
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << Escape(title)
       << "</title><style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}"
          "</style>\n" << ChartLibrary() << "</head><body>\n<h1>" << Escape(title) << "</h1>\n<pre>"
       << Escape(SummaryText(s)) << "</pre>\n";
  for (size_t i = 0; i < charts.size(); ++i) html << RenderChart(charts[i], "chart-" + std::to_string(i));
  html << "</body></html>\n";
  std::ofstream out(path);
  if (!out) return Unavailable("cannot write " + path);
  out << html.str();
  return out ? Status::Ok() : Unavailable("cannot write " + path);
}

}  // namespace loom::sim
