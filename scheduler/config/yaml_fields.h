// Reading loomd's YAML configs (cluster configs, policy configs) field by field. Internal to
// scheduler/config: every problem becomes a one-line Status naming the file and the field
// ("mai-15k.yaml: leaf_groups[0].count: ..."), and fields never read are reported as unknown, so a
// typo cannot silently change a config.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <type_traits>

#include "common/status.h"

namespace loom::sched::config {

class Fields {
 public:
  // `source` is the file name, `path` where this mapping sits in it ("" for the top).
  Fields(const YAML::Node& node, std::string source, std::string path)
      : node_(node), source_(std::move(source)), path_(std::move(path)) {}

  Status Check() const {
    return node_.IsMap() ? Status::Ok() : InvalidArgument(Here() + "expected a mapping");
  }
  bool Has(const std::string& key) const { return node_.IsMap() && node_[key].IsDefined(); }
  YAML::Node Get(const std::string& key) {
    seen_.insert(key);
    return node_[key];
  }
  // "mai-15k.yaml: leaf_groups[0].count", to start an error message with.
  std::string Where(const std::string& key) const { return source_ + ": " + Path(key); }
  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  Fields Child(const std::string& key) { return Fields(Get(key), source_, Path(key)); }
  Fields Item(const std::string& key, const YAML::Node& item, size_t i) const {
    return Fields(item, source_, Path(key) + "[" + std::to_string(i) + "]");
  }

  template <typename T>
  Status Read(const std::string& key, T* out, bool required = true) {
    YAML::Node value = Get(key);
    if (!value.IsDefined()) {
      return required ? InvalidArgument(Where(key) + ": missing") : Status::Ok();
    }
    if (!value.IsScalar() || !YAML::convert<T>::decode(value, *out)) {
      return InvalidArgument(Where(key) + ": '" + YAML::Dump(value) + "' is not a valid value");
    }
    return Status::Ok();
  }
  Status Positive(const std::string& key, int* out) {
    LOOM_RETURN_IF_ERROR(Read(key, out));
    return *out > 0 ? Status::Ok() : InvalidArgument(Where(key) + ": must be positive");
  }
  // An optional number that must not be negative; left as it is when absent.
  template <typename T>
  Status NonNegative(const std::string& key, T* out) {
    LOOM_RETURN_IF_ERROR(Read(key, out, /*required=*/false));
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(*out)) return InvalidArgument(Where(key) + ": must be a finite number");
    }
    return *out >= 0 ? Status::Ok() : InvalidArgument(Where(key) + ": must not be negative");
  }

  Status Finish() const;

 private:
  std::string Here() const { return source_ + ": " + (path_.empty() ? "" : path_ + ": "); }

  YAML::Node node_;
  std::string source_, path_;
  std::set<std::string> seen_;
};

// A mapping's key as text, or "HERE" + "a key must be a plain name, …". YAML allows any node as a
// key ("? [a, b]: 1"); yaml-cpp throws when such a key is read as a string (a crash the fuzzer
// found, fuzz/corpus/cluster_config). `here` starts the message ("f.yaml: tenants: ").
StatusOr<std::string> KeyOf(const YAML::Node& key, const std::string& here);

// Parses `yaml`; a syntax error is "SOURCE: line N: what".
StatusOr<YAML::Node> LoadYaml(const std::string& yaml, const std::string& source);

// Reads `parent.key`, an optional list of mappings.
Status ForEachItem(Fields& parent, const std::string& key,
                   const std::function<Status(Fields&)>& each);
// Reads `parent.key`, an optional mapping of names to mappings ("tenants: {a: {...}}").
Status ForEachEntry(Fields& parent, const std::string& key,
                    const std::function<Status(const std::string& name, Fields&)>& each);

// An optional duration ("7d", "12h", "90m") in milliseconds, which must be positive (or, with
// `allow_zero`, not negative); left as it is when absent.
Status ReadDuration(Fields& f, const std::string& key, int64_t* out_ms, bool allow_zero = false);
// An optional mapping; `read` sees it only when it is there, and its unknown keys are errors.
Status ReadSection(Fields& top, const std::string& key, const std::function<Status(Fields&)>& read);

// A file's text and the name errors call it by (its base name); `what` names it when it cannot
// be opened ("the cluster config").
struct ConfigText {
  std::string text, source;
};
StatusOr<ConfigText> ReadConfigFile(const std::string& path, const std::string& what);

}  // namespace loom::sched::config
