#include "scheduler/http/loomd_http.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/metrics/registry.h"
#include "scheduler/http/loomd_metrics.h"
#include "web/assets.h"

namespace loom::http {
namespace {

using nlohmann::json;

json ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(m, &text, options).ok()) return json::object();
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

template <typename T>
T OrEmpty(StatusOr<T> s) {
  return s.ok() ? std::move(*s) : T{};
}

Reply JsonReply(const std::string& body) { return Reply{200, "application/json", body}; }

// Efficiency over the last hour, in this many buckets, for the dashboard's charts.
constexpr int kEfficiencyBuckets = 20;

}  // namespace

void StepHistory::Record(const std::vector<v1::Job>& jobs, int64_t now_ms) {
  std::map<int64_t, std::deque<StepPoint>> kept;
  for (const v1::Job& j : jobs) {
    if (j.state() != v1::RUNNING) continue;
    RunFigures r = FiguresOf(j);
    if (r.steps == 0) continue;
    std::deque<StepPoint>& points = kept[j.id()];
    if (auto it = points_.find(j.id()); it != points_.end()) points = std::move(it->second);
    points.push_back({now_ms, r.mfu, r.step_s});
    while (points.size() > kPoints) points.pop_front();
  }
  points_ = std::move(kept);
}

std::vector<StepPoint> StepHistory::Of(int64_t job_id) const {
  auto it = points_.find(job_id);
  if (it == points_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

StatusOr<std::unique_ptr<LoomdHttp>> LoomdHttp::Start(const std::string& listen, ControlPlane* plane,
                                                      int64_t sample_interval_ms, DashboardAuth auth) {
  std::unique_ptr<LoomdHttp> h(new LoomdHttp(plane));
  LoomdHttp* self = h.get();
  std::vector<Route> routes = {
      {"/metrics", [self](const Request&) {
         return Reply{200, "text/plain; version=0.0.4; charset=utf-8", self->Metrics()};
       }},
      {"/api/cluster", [self](const Request&) { return JsonReply(self->ClusterJson()); }},
      {"/api/queue", [self](const Request&) { return JsonReply(self->QueueJson()); }},
      {"/api/efficiency", [self](const Request&) { return JsonReply(self->EfficiencyJson()); }},
      {"/api/jobs/(\\d{1,18})", [self](const Request& r) {
         auto body = self->JobJson(std::stoll(r.matches[1]), 8192);
         if (!body.ok()) return Reply{404, "application/json", json{{"error", body.status().message()}}.dump()};
         return JsonReply(*body);
       }},
  };
  for (const WebAsset& a : WebAssets()) {
    std::string body(reinterpret_cast<const char*>(a.data), a.size);
    std::string type = a.content_type;
    auto serve = [body, type](const Request&) { return Reply{200, type, body}; };
    routes.push_back({a.path, serve});
    if (std::string(a.path) == "/index.html") routes.push_back({"/", serve});
  }
  if (auth.verify) {
    routes = Guard(std::move(routes), auth);
    for (Route& r : LoginRoutes(auth)) routes.push_back(std::move(r));
  }
  LOOM_ASSIGN_OR_RETURN(h->server_, HttpServer::Start(listen, std::move(routes)));
  h->sampler_ = std::thread([self, sample_interval_ms] { self->Sample(sample_interval_ms); });
  return h;
}

LoomdHttp::~LoomdHttp() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
  server_.reset();
}

void LoomdHttp::Sample(int64_t interval_ms) {
  SystemClock clock;
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    std::vector<v1::Job> running = plane_->ListJobs({v1::RUNNING});
    lock.lock();
    history_.Record(running, clock.NowMs());
    cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [this] { return stop_; });
  }
}

std::string LoomdHttp::Metrics() {
  v1::GetStatsRequest req;
  req.set_window_ms(kMetricsWindowMs);
  v1::Stats stats = OrEmpty(plane_->GetStats(req));
  std::vector<metrics::Family> families = LoomdFamilies(plane_->ListNodes(), plane_->ListJobs({}), stats);
  for (metrics::Family& f : metrics::Registry::Global().Collect()) families.push_back(std::move(f));
  return metrics::Render(families);
}

std::string LoomdHttp::ClusterJson() {
  json nodes = json::array();
  for (const v1::Node& n : plane_->ListNodes()) nodes.push_back(ToJson(n));
  v1::GetStatsRequest req;
  req.set_window_ms(kMetricsWindowMs);
  json stats = ToJson(OrEmpty(plane_->GetStats(req)));
  return json{{"nodes", nodes}, {"stats", stats}, {"now_ms", SystemClock().NowMs()}}.dump();
}

std::string LoomdHttp::QueueJson() {
  json jobs = json::array();
  for (const v1::Job& j : plane_->ListJobs({})) jobs.push_back(ToJson(j));
  return json{{"jobs", jobs}, {"now_ms", SystemClock().NowMs()}}.dump();
}

StatusOr<std::string> LoomdHttp::JobJson(int64_t id, int tail_bytes) {
  LOOM_ASSIGN_OR_RETURN(v1::Job job, plane_->GetJob(id));
  json out{{"job", ToJson(job)}, {"now_ms", SystemClock().NowMs()}};
  json samples = json::array();
  {
    std::lock_guard lock(mu_);
    for (const StepPoint& p : history_.Of(id)) samples.push_back({{"t_ms", p.t_ms}, {"mfu", p.mfu}, {"step_s", p.step_s}});
  }
  out["samples"] = samples;
  // Rank 0's output, its last `tail_bytes`; a job that has not started has none.
  std::string log;
  v1::ReadLogRequest req;
  req.set_job_id(id);
  for (int chunk = 0; chunk < 64; ++chunk) {
    auto part = plane_->ReadLog(req);
    if (!part.ok() || part->data().empty()) break;
    log += part->data();
    if (log.size() > static_cast<size_t>(tail_bytes)) log.erase(0, log.size() - static_cast<size_t>(tail_bytes));
    req.set_offset(part->next_offset());
    if (part->eof()) break;
  }
  out["log_tail"] = log;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);  // output need not be UTF-8
}

std::string LoomdHttp::EfficiencyJson() {
  const int64_t now = SystemClock().NowMs();
  const int64_t bucket = kMetricsWindowMs / kEfficiencyBuckets;
  json series = json::array();
  for (int k = kEfficiencyBuckets - 1; k >= 0; --k) {
    v1::GetStatsRequest req;
    req.set_window_ms(bucket);
    req.set_end_ms(now - k * bucket);
    auto s = plane_->GetStats(req);
    if (!s.ok()) continue;
    const v1::Efficiency& c = s->cluster();
    series.push_back({{"t_ms", req.end_ms()}, {"allocation", c.allocation_ratio()}, {"mfu", c.mfu()},
                      {"goodput", c.goodput()}, {"busy", c.gpu_busy_ratio()}});
  }
  v1::GetStatsRequest req;
  req.set_window_ms(kMetricsWindowMs);
  json tenants = json::array();
  if (auto s = plane_->GetStats(req); s.ok()) {
    for (const v1::TenantEfficiency& t : s->tenants()) tenants.push_back(ToJson(t));
  }
  return json{{"series", series}, {"tenants", tenants}, {"bucket_ms", bucket}, {"now_ms", now}}.dump();
}

}  // namespace loom::http
