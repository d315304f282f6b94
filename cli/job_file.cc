#include "cli/job_file.h"

#include <yaml-cpp/yaml.h>

#include <csignal>
#include <cstring>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "cli/job_control.h"
#include "common/duration.h"
#include "common/job_syntax.h"

namespace loom::cli {
namespace {

const std::vector<std::string>& KnownFields() {
  static const auto* fields = new std::vector<std::string>{
      "name", "tenant", "gpus", "gpus_per_node", "time", "priority", "qos", "leaf", "leaf_wait",
      "mpi", "command", "env", "workdir", "signal", "grace", "max_requeues", "no_requeue", "tasks_per_node",
      "hold", "dependency", "array"};
  return *fields;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string At(const std::string& source, const YAML::Mark& mark) {
  return source + ":" + std::to_string(mark.line + 1);
}

template <typename T>
StatusOr<T> As(const YAML::Node& node, const std::string& field, const char* type,
               const std::string& source) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    return InvalidArgument(At(source, node.Mark()) + ": field '" + field + "' must be " + type);
  }
}

// A duration field (time, leaf_wait), in seconds.
StatusOr<int64_t> AsDuration(const YAML::Node& node, const std::string& field, const std::string& source) {
  LOOM_ASSIGN_OR_RETURN(std::string text, As<std::string>(node, field, "a duration", source));
  auto seconds = ParseDuration(text);
  if (!seconds.ok()) return InvalidArgument(At(source, node.Mark()) + ": " + seconds.status().message());
  return *seconds;
}

// Seconds from "120" (plain seconds, unlike --time's minutes) or a duration with a unit.
StatusOr<int64_t> Seconds(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    if (text.size() > 12) return InvalidArgument("'" + text + "' is too many seconds");
    return std::stoll(text);
  }
  return ParseDuration(text);
}

StatusOr<int> SignalNumber(std::string name) {
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos && name.size() < 4) {
    const int n = std::stoi(name);
    if (n > 0 && n < NSIG) return n;
  }
  std::transform(name.begin(), name.end(), name.begin(), ::toupper);
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  for (int n = 1; n < NSIG; ++n) {
    const char* abbrev = sigabbrev_np(n);
    if (abbrev && name == abbrev) return n;
  }
  return InvalidArgument("unknown signal '" + name + "'");
}

}  // namespace

Status ParseSignalSpec(const std::string& text, v1::JobSpec& spec) {
  const auto at = text.find('@');
  if (at == std::string::npos) return InvalidArgument("--signal '" + text + "' is not SIG@SECONDS (e.g. USR1@120)");
  auto sig = SignalNumber(text.substr(0, at));
  if (!sig.ok()) return InvalidArgument("--signal '" + text + "': " + sig.status().message());
  if (*sig == SIGKILL || *sig == SIGSTOP) {
    return InvalidArgument("--signal '" + text + "': a job cannot catch SIGKILL or SIGSTOP to checkpoint");
  }
  auto seconds = Seconds(text.substr(at + 1));
  if (!seconds.ok() || *seconds <= 0) {
    return InvalidArgument("--signal '" + text + "': SECONDS must be a positive number of seconds");
  }
  spec.set_signal(*sig);
  spec.set_signal_before_s(*seconds);
  return Status::Ok();
}

Status ParseGrace(const std::string& text, v1::JobSpec& spec) {
  if (!text.empty() && text[0] == '-') return InvalidArgument("--grace '" + text + "' must not be negative");
  auto seconds = Seconds(text);
  if (!seconds.ok()) return InvalidArgument("--grace '" + text + "': " + seconds.status().message());
  spec.set_grace_s(*seconds);
  return Status::Ok();
}

Status CheckRequeue(const v1::JobSpec& spec) {
  if (spec.has_max_requeues() && spec.max_requeues() < 0) {
    return InvalidArgument("--max-requeues must not be negative (got " + std::to_string(spec.max_requeues()) + ")");
  }
  return Status::Ok();
}

std::optional<v1::LeafPolicy> ParseLeafPolicy(const std::string& text) {
  if (text == "fewest") return v1::LEAF_FEWEST;
  if (text == "prefer-one") return v1::LEAF_PREFER_ONE;
  if (text == "require-one") return v1::LEAF_REQUIRE_ONE;
  return std::nullopt;
}

StatusOr<v1::JobSpec> ParseJobFile(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + e.msg);
  }
  if (!root.IsMap()) return InvalidArgument(source + ": a job file must be a YAML mapping of fields");

  v1::JobSpec spec;
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& value = kv.second;
    if (std::find(KnownFields().begin(), KnownFields().end(), key) == KnownFields().end()) {
      std::string hint;
      for (const std::string& f : KnownFields()) {
        if (EditDistance(key, f) <= 2) hint = " (did you mean '" + f + "'?)";
      }
      return InvalidArgument(At(source, kv.first.Mark()) + ": unknown field '" + key + "'" + hint);
    }
    // Plain fields: one setter each, by type.
    static const std::map<std::string, void (v1::JobSpec::*)(const std::string&)> kStrings = {
        {"name", &v1::JobSpec::set_name}, {"tenant", &v1::JobSpec::set_tenant},
        {"workdir", &v1::JobSpec::set_workdir}};
    static const std::map<std::string, void (v1::JobSpec::*)(int32_t)> kInts = {
        {"gpus", &v1::JobSpec::set_gpus}, {"gpus_per_node", &v1::JobSpec::set_gpus_per_node},
        {"priority", &v1::JobSpec::set_priority}, {"qos", &v1::JobSpec::set_qos},
        {"tasks_per_node", &v1::JobSpec::set_tasks_per_node}};
    if (auto it = kStrings.find(key); it != kStrings.end()) {
      LOOM_ASSIGN_OR_RETURN(std::string v, As<std::string>(value, key, "a string", source));
      (spec.*(it->second))(v);
    } else if (auto jt = kInts.find(key); jt != kInts.end()) {
      LOOM_ASSIGN_OR_RETURN(int v, As<int>(value, key, "an integer", source));
      (spec.*(jt->second))(v);
    } else if (key == "leaf") {
      LOOM_ASSIGN_OR_RETURN(std::string v, As<std::string>(value, key, "fewest, prefer-one or require-one", source));
      auto leaf = ParseLeafPolicy(v);
      if (!leaf) {
        return InvalidArgument(At(source, value.Mark()) + ": field 'leaf' must be fewest, prefer-one or require-one");
      }
      spec.set_leaf(*leaf);
    } else if (key == "leaf_wait") {
      LOOM_ASSIGN_OR_RETURN(int64_t seconds, AsDuration(value, key, source));
      spec.set_leaf_wait_s(seconds);
    } else if (key == "mpi") {
      LOOM_ASSIGN_OR_RETURN(bool v, As<bool>(value, key, "true or false", source));
      spec.set_mpi(v);
    } else if (key == "time") {
      LOOM_ASSIGN_OR_RETURN(int64_t seconds, AsDuration(value, key, source));
      spec.set_time_limit_s(seconds);
    } else if (key == "command") {
      if (value.IsScalar()) {
        for (const char* a : {"/bin/sh", "-c"}) spec.add_command(a);
        spec.add_command(value.Scalar());
      } else {
        LOOM_ASSIGN_OR_RETURN(auto argv, As<std::vector<std::string>>(value, key, "a string or a list of strings", source));
        for (auto& a : argv) spec.add_command(a);
      }
    } else if (key == "signal" || key == "grace") {
      LOOM_ASSIGN_OR_RETURN(std::string v, As<std::string>(value, key, "a string", source));
      Status s = key == "signal" ? ParseSignalSpec(v, spec) : ParseGrace(v, spec);
      if (!s.ok()) return InvalidArgument(At(source, value.Mark()) + ": " + s.message());
    } else if (key == "max_requeues") {
      LOOM_ASSIGN_OR_RETURN(int v, As<int>(value, key, "an integer", source));
      spec.set_max_requeues(v);
      Status s = CheckRequeue(spec);
      if (!s.ok()) return InvalidArgument(At(source, value.Mark()) + ": " + s.message());
    } else if (key == "no_requeue") {
      LOOM_ASSIGN_OR_RETURN(bool v, As<bool>(value, key, "true or false", source));
      spec.set_no_requeue(v);
    } else if (key == "hold") {
      LOOM_ASSIGN_OR_RETURN(bool v, As<bool>(value, key, "true or false", source));
      spec.set_hold(v);
    } else if (key == "dependency" || key == "array") {  // as --dependency and --array spell them
      LOOM_ASSIGN_OR_RETURN(std::string v, As<std::string>(value, key, "a string", source));
      Status s = key == "dependency" ? ParseDependencies(v, spec) : ParseArraySpec(v).status();
      if (!s.ok()) return InvalidArgument(At(source, value.Mark()) + ": " + s.message());
      if (key == "array") spec.set_array(v);
    } else if (key == "env") {
      LOOM_ASSIGN_OR_RETURN(auto env, (As<std::map<std::string, std::string>>(value, key, "a mapping of names to strings", source)));
      for (auto& [k, v] : env) (*spec.mutable_env())[k] = v;
    }
  }
  return spec;
}

StatusOr<v1::JobSpec> LoadJobFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read job file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseJobFile(text.str(), path);
}

}  // namespace loom::cli
