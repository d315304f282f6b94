#include "sim/workload.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "kernels/train/model_shape.h"
#include "scheduler/config/yaml_fields.h"

namespace loom::sim {
namespace {

using sched::config::Fields;

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) {
    const auto b = field.find_first_not_of(" \t\r");
    const auto e = field.find_last_not_of(" \t\r");
    out.push_back(b == std::string::npos ? "" : field.substr(b, e - b + 1));
  }
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

template <typename T>
bool ParseNumber(const std::string& text, T* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *out);
  if constexpr (std::is_floating_point_v<T>) {
    if (ec == std::errc() && p == end && !std::isfinite(*out)) return false;
  }
  return ec == std::errc() && p == end;
}

const std::set<std::string>& KnownColumns() {
  static const auto* cols = new std::set<std::string>{
      "id", "name", "tenant", "arrival_s", "gpus", "gpus_per_node", "priority", "qos",
      "time_limit_s", "duration_s", "model", "steps"};
  return *cols;
}

// One row into a job; an error says which column and why (the caller adds file and line).
Status ReadRow(const std::map<std::string, std::string>& f, SimJob* job) {
  auto get = [&](const char* key) -> const std::string& {
    static const std::string empty;
    auto it = f.find(key);
    return it == f.end() ? empty : it->second;
  };
  auto bad = [](const char* key, const std::string& v, const char* what) {
    return InvalidArgument(std::string(key) + ": '" + v + "' is not " + what);
  };
  auto number = [&](const char* key, auto* out, bool required, const char* what, auto ok) -> Status {
    const std::string& v = get(key);
    if (v.empty()) return required ? InvalidArgument(std::string(key) + ": missing") : Status::Ok();
    if (!ParseNumber(v, out) || !ok(*out)) return bad(key, v, what);
    return Status::Ok();
  };
  auto non_negative = [](auto x) { return x >= 0; };
  auto positive = [](auto x) { return x > 0; };
  LOOM_RETURN_IF_ERROR(number("id", &job->id, false, "a positive integer", positive));
  LOOM_RETURN_IF_ERROR(number("arrival_s", &job->arrival_s, true, "a non-negative number", non_negative));
  LOOM_RETURN_IF_ERROR(number("gpus", &job->gpus, true, "a positive integer", positive));
  LOOM_RETURN_IF_ERROR(number("gpus_per_node", &job->gpus_per_node, false, "a non-negative integer", non_negative));
  LOOM_RETURN_IF_ERROR(number("priority", &job->priority, false, "an integer", [](int) { return true; }));
  LOOM_RETURN_IF_ERROR(number("qos", &job->qos, false, "a non-negative integer", non_negative));
  LOOM_RETURN_IF_ERROR(number("time_limit_s", &job->time_limit_s, false, "a non-negative number", non_negative));
  LOOM_RETURN_IF_ERROR(number("duration_s", &job->duration_s, false, "a positive number", positive));
  LOOM_RETURN_IF_ERROR(number("steps", &job->steps, false, "a positive integer", positive));
  job->name = get("name");
  job->tenant = get("tenant");
  job->model = get("model");
  const bool by_duration = !get("duration_s").empty();
  const bool by_model = !job->model.empty() || job->steps > 0;
  if (by_duration == by_model) return InvalidArgument("give either duration_s or model and steps");
  if (by_model && (job->model.empty() || job->steps <= 0)) return InvalidArgument("model and steps go together");
  if (by_model) {
    if (auto shape = train::Preset(job->model); !shape.ok()) return InvalidArgument("model: " + shape.status().message());
  }
  return Status::Ok();
}

StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open " + what);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status ReadRange(Fields& parent, const std::string& key, Range* out) {
  return sched::config::ReadSection(parent, key, [&](Fields& f) {
    int64_t min_ms = static_cast<int64_t>(out->min_s * 1000), max_ms = static_cast<int64_t>(out->max_s * 1000);
    LOOM_RETURN_IF_ERROR(sched::config::ReadDuration(f, "min", &min_ms));
    LOOM_RETURN_IF_ERROR(sched::config::ReadDuration(f, "max", &max_ms));
    if (max_ms < min_ms) return InvalidArgument(f.Where("max") + ": must not be below min");
    *out = {min_ms / 1000.0, max_ms / 1000.0};
    return Status::Ok();
  });
}

double LogUniform(std::mt19937_64& rng, const Range& r) {
  if (r.max_s <= r.min_s) return r.min_s;
  std::uniform_real_distribution<double> u(std::log(r.min_s), std::log(r.max_s));
  return std::exp(u(rng));
}

}  // namespace

StatusOr<std::vector<SimJob>> ParseTraceCsv(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  std::vector<std::string> header;
  while (header.empty() && std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    header = SplitCsv(line);
  }
  auto at = [&](int n) { return source + ": line " + std::to_string(n) + ": "; };
  if (header.empty()) return InvalidArgument(source + ": no header row");
  std::set<std::string> seen;
  for (const std::string& h : header) {
    if (!KnownColumns().count(h)) return InvalidArgument(at(line_no) + "unknown column '" + h + "'");
    if (!seen.insert(h).second) return InvalidArgument(at(line_no) + "column '" + h + "' twice");
  }
  for (const char* required : {"arrival_s", "gpus"}) {
    if (!seen.count(required)) return InvalidArgument(at(line_no) + "no " + required + " column");
  }
  std::vector<SimJob> jobs;
  std::set<int64_t> ids;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    const std::vector<std::string> cells = SplitCsv(line);
    if (cells.size() != header.size()) {
      return InvalidArgument(at(line_no) + std::to_string(cells.size()) + " fields, the header has " +
                             std::to_string(header.size()));
    }
    std::map<std::string, std::string> fields;
    for (size_t i = 0; i < header.size(); ++i) fields[header[i]] = cells[i];
    SimJob job;
    if (Status s = ReadRow(fields, &job); !s.ok()) return InvalidArgument(at(line_no) + s.message());
    if (job.id == 0) job.id = static_cast<int64_t>(jobs.size()) + 1;
    if (!ids.insert(job.id).second) return InvalidArgument(at(line_no) + "id " + std::to_string(job.id) + " twice");
    jobs.push_back(std::move(job));
  }
  std::stable_sort(jobs.begin(), jobs.end(),
                   [](const SimJob& a, const SimJob& b) { return a.arrival_s < b.arrival_s; });
  return jobs;
}

StatusOr<std::vector<SimJob>> LoadTrace(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, "the trace"));
  const auto slash = path.find_last_of('/');
  return ParseTraceCsv(text, slash == std::string::npos ? path : path.substr(slash + 1));
}

StatusOr<SyntheticSpec> ParseSyntheticSpec(const std::string& yaml, const std::string& source) {
  LOOM_ASSIGN_OR_RETURN(YAML::Node root, sched::config::LoadYaml(yaml, source));
  SyntheticSpec s;
  if (root.IsNull()) return s;
  Fields top(root, source, "");
  LOOM_RETURN_IF_ERROR(top.Check());
  if (top.Has("jobs")) LOOM_RETURN_IF_ERROR(top.Positive("jobs", &s.jobs));
  LOOM_RETURN_IF_ERROR(top.NonNegative("arrival_rate_per_hour", &s.arrival_rate_per_hour));
  if (s.arrival_rate_per_hour <= 0) return InvalidArgument(top.Where("arrival_rate_per_hour") + ": must be positive");
  auto weights = [&](const char* key, auto parse_name, auto* out) -> Status {
    if (!top.Has(key)) return Status::Ok();
    const YAML::Node node = top.Get(key);
    if (!node.IsMap() || node.size() == 0) return InvalidArgument(top.Where(key) + ": expected a mapping to weights");
    out->clear();
    for (const auto& kv : node) {
      LOOM_ASSIGN_OR_RETURN(const std::string name, sched::config::KeyOf(kv.first, top.Where(key) + ": "));
      double w = 0;
      if (!kv.second.IsScalar() || !YAML::convert<double>::decode(kv.second, w) || !std::isfinite(w) || w < 0) {
        return InvalidArgument(top.Where(std::string(key) + "." + name) + ": must be a non-negative weight");
      }
      auto parsed = parse_name(name);
      if (!parsed.ok()) return InvalidArgument(top.Where(std::string(key) + "." + name) + ": " + parsed.status().message());
      out->push_back({*parsed, w});
    }
    return Status::Ok();
  };
  auto gpus_of = [](const std::string& n) -> StatusOr<int> {
    int g = 0;
    if (!ParseNumber(n, &g) || g <= 0) return InvalidArgument("not a positive GPU count");
    return g;
  };
  auto name_of = [](const std::string& n) -> StatusOr<std::string> { return n; };
  LOOM_RETURN_IF_ERROR(weights("sizes", gpus_of, &s.sizes));
  LOOM_RETURN_IF_ERROR(weights("tenants", name_of, &s.tenants));
  LOOM_RETURN_IF_ERROR(ReadRange(top, "duration", &s.duration));
  LOOM_RETURN_IF_ERROR(top.NonNegative("time_limit_factor", &s.time_limit_factor));
  LOOM_RETURN_IF_ERROR(sched::config::ReadSection(top, "large", [&](Fields& f) {
    LOOM_RETURN_IF_ERROR(f.NonNegative("share", &s.large_share));
    if (s.large_share > 1) return InvalidArgument(f.Where("share") + ": must be at most 1");
    const YAML::Node g = f.Get("gpus");
    if (!g.IsSequence() || g.size() == 0) return InvalidArgument(f.Where("gpus") + ": expected a list of GPU counts");
    for (const auto& item : g) {
      int n = 0;
      if (!YAML::convert<int>::decode(item, n) || n <= 0) return InvalidArgument(f.Where("gpus") + ": GPU counts must be positive");
      s.large_gpus.push_back(n);
    }
    LOOM_RETURN_IF_ERROR(f.Read("model", &s.large_model, /*required=*/false));
    if (!s.large_model.empty()) {
      if (auto shape = train::Preset(s.large_model); !shape.ok()) {
        return InvalidArgument(f.Where("model") + ": " + shape.status().message());
      }
    }
    return ReadRange(f, "duration", &s.large_duration);
  }));
  LOOM_RETURN_IF_ERROR(top.Finish());
  return s;
}

StatusOr<SyntheticSpec> LoadSyntheticSpec(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(auto text, sched::config::ReadConfigFile(path, "the workload"));
  return ParseSyntheticSpec(text.text, text.source);
}

std::vector<SimJob> Generate(const SyntheticSpec& spec, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(spec.arrival_rate_per_hour / 3600.0);
  std::vector<double> size_w, tenant_w;
  for (const auto& [g, w] : spec.sizes) size_w.push_back(w);
  for (const auto& [t, w] : spec.tenants) tenant_w.push_back(w);
  std::discrete_distribution<size_t> size(size_w.begin(), size_w.end());
  std::discrete_distribution<size_t> tenant(tenant_w.begin(), tenant_w.end());
  std::bernoulli_distribution large(spec.large_gpus.empty() ? 0.0 : spec.large_share);
  std::uniform_int_distribution<size_t> large_pick(0, spec.large_gpus.empty() ? 0 : spec.large_gpus.size() - 1);
  std::vector<SimJob> jobs;
  jobs.reserve(spec.jobs);
  double t = 0;
  for (int i = 0; i < spec.jobs; ++i) {
    t += gap(rng);
    SimJob j;
    j.id = i + 1;
    j.arrival_s = t;
    j.tenant = spec.tenants[tenant(rng)].first;
    if (large(rng)) {
      j.gpus = spec.large_gpus[large_pick(rng)];
      j.duration_s = LogUniform(rng, spec.large_duration);
      j.name = "large-" + std::to_string(j.id);
      j.model = spec.large_model;
    } else {
      j.gpus = spec.sizes[size(rng)].first;
      j.duration_s = LogUniform(rng, spec.duration);
      j.name = "job-" + std::to_string(j.id);
    }
    j.time_limit_s = spec.time_limit_factor > 0 ? std::ceil(j.duration_s * spec.time_limit_factor) : 0;
    jobs.push_back(std::move(j));
  }
  return jobs;
}

}  // namespace loom::sim
