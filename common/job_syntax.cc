#include "common/job_syntax.h"

#include <charconv>
#include <set>

namespace loom {
namespace {

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t at = text.find(sep, start);
    out.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// A non-negative decimal integer, nothing else.
template <typename T>
std::optional<T> Number(std::string_view text) {
  T value{};
  if (text.empty() || text[0] == '-' || text[0] == '+') return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Status BadArray(std::string_view text, const std::string& why) {
  return InvalidArgument("bad --array '" + std::string(text) + "': " + why +
                         " (e.g. 0-99%8, 1,3,5-7 or 0-15:4)");
}

}  // namespace

StatusOr<ArraySpec> ParseArraySpec(std::string_view text) {
  ArraySpec spec;
  std::string_view list = text;
  if (size_t pct = text.find('%'); pct != std::string_view::npos) {
    auto k = Number<int>(text.substr(pct + 1));
    if (!k || *k < 1) return BadArray(text, "%K must be a positive number of tasks");
    spec.max_running = *k;
    list = text.substr(0, pct);
  }
  if (list.empty()) return BadArray(text, "no task ids");
  std::set<int> tasks;
  for (std::string_view part : Split(list, ',')) {
    if (part.empty()) return BadArray(text, "an empty item");
    int step = 1;
    std::string_view range = part;
    if (size_t colon = part.find(':'); colon != std::string_view::npos) {
      auto s = Number<int>(part.substr(colon + 1));
      if (!s || *s < 1) return BadArray(text, "the step after ':' must be a positive number");
      step = *s;
      range = part.substr(0, colon);
    }
    size_t dash = range.find('-');
    auto first = Number<int>(range.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : Number<int>(range.substr(dash + 1));
    if (!first || !last) return BadArray(text, "'" + std::string(part) + "' is not N or N-M");
    if (step != 1 && dash == std::string_view::npos) return BadArray(text, "a step needs a range (N-M:S)");
    if (*last < *first) return BadArray(text, "'" + std::string(range) + "' ends before it starts");
    if (*last >= kMaxArraySize) {
      return BadArray(text, "task ids must be below " + std::to_string(kMaxArraySize) + " (MaxArraySize)");
    }
    for (int t = *first; t <= *last; t += step) {
      tasks.insert(t);
      if (t > *last - step) break;  // no overflow past INT_MAX
    }
  }
  spec.tasks.assign(tasks.begin(), tasks.end());
  return spec;
}

std::string FormatTaskRanges(const std::vector<int>& tasks) {
  std::string out;
  for (size_t i = 0; i < tasks.size();) {
    size_t j = i;
    while (j + 1 < tasks.size() && tasks[j + 1] == tasks[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(tasks[i]);
    if (j > i) out += "-" + std::to_string(tasks[j]);
    i = j + 1;
  }
  return out;
}

StatusOr<JobRefText> ParseJobRef(std::string_view text) {
  JobRefText ref;
  size_t under = text.find('_');
  auto id = Number<int64_t>(text.substr(0, under));
  if (!id || *id <= 0) return InvalidArgument("invalid job id '" + std::string(text) + "' (e.g. 12 or 12_7)");
  ref.job_id = *id;
  if (under != std::string_view::npos) {
    auto task = Number<int>(text.substr(under + 1));
    if (!task) return InvalidArgument("invalid job id '" + std::string(text) + "' (e.g. 12 or 12_7)");
    ref.array_task = *task;
  }
  return ref;
}

StatusOr<std::vector<DependencyTerm>> ParseDependencySpec(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("bad --dependency '" + std::string(text) + "': " + why +
                           " (e.g. afterok:12:13,afterany:14_2,singleton)");
  };
  if (text.empty()) return bad("empty");
  std::vector<DependencyTerm> out;
  for (std::string_view term : Split(text, ',')) {
    std::vector<std::string_view> parts = Split(term, ':');
    const std::string_view type = parts[0];
    if (type == "singleton") {
      if (parts.size() != 1) return bad("singleton takes no job ids");
      out.push_back({DependencyTerm::kSingleton, 0, std::nullopt});
      continue;
    }
    DependencyTerm::Type t;
    if (type == "afterok") {
      t = DependencyTerm::kAfterOk;
    } else if (type == "afterany") {
      t = DependencyTerm::kAfterAny;
    } else if (type == "afternotok") {
      t = DependencyTerm::kAfterNotOk;
    } else {
      return bad("unknown type '" + std::string(type) + "' (afterok, afterany, afternotok, singleton)");
    }
    if (parts.size() < 2) return bad(std::string(type) + " needs at least one job id");
    for (size_t i = 1; i < parts.size(); ++i) {
      auto ref = ParseJobRef(parts[i]);
      if (!ref.ok()) return bad("'" + std::string(parts[i]) + "' is not a job id");
      out.push_back({t, ref->job_id, ref->array_task});
    }
  }
  return out;
}

}  // namespace loom
