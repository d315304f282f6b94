#include "scheduler/config/yaml_fields.h"

#include <fstream>
#include <sstream>

#include "common/duration.h"

namespace loom::sched::config {

StatusOr<std::string> KeyOf(const YAML::Node& key, const std::string& here) {
  if (!key.IsScalar()) return InvalidArgument(here + "a key must be a plain name, not '" + YAML::Dump(key) + "'");
  return key.Scalar();
}

Status Fields::Finish() const {
  for (const auto& entry : node_) {
    LOOM_ASSIGN_OR_RETURN(const std::string key, KeyOf(entry.first, Here()));
    if (!seen_.count(key)) return InvalidArgument(Here() + "unknown field '" + key + "'");
  }
  return Status::Ok();
}

StatusOr<YAML::Node> LoadYaml(const std::string& yaml, const std::string& source) {
  try {
    return YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Status ForEachItem(Fields& parent, const std::string& key,
                   const std::function<Status(Fields&)>& each) {
  const YAML::Node list = parent.Get(key);
  if (!list.IsDefined()) return Status::Ok();
  if (!list.IsSequence()) return InvalidArgument(parent.Where(key) + ": expected a list");
  for (size_t i = 0; i < list.size(); ++i) {
    Fields item = parent.Item(key, list[i], i);
    LOOM_RETURN_IF_ERROR(item.Check());
    LOOM_RETURN_IF_ERROR(each(item));
    LOOM_RETURN_IF_ERROR(item.Finish());
  }
  return Status::Ok();
}

Status ForEachEntry(Fields& parent, const std::string& key,
                    const std::function<Status(const std::string& name, Fields&)>& each) {
  Fields map = parent.Child(key);
  if (!parent.Has(key)) return Status::Ok();
  LOOM_RETURN_IF_ERROR(map.Check());
  for (const auto& entry : parent.Get(key)) {
    LOOM_ASSIGN_OR_RETURN(const std::string name, KeyOf(entry.first, parent.Where(key) + ": "));
    Fields item = map.Child(name);
    LOOM_RETURN_IF_ERROR(item.Check());
    LOOM_RETURN_IF_ERROR(each(name, item));
    LOOM_RETURN_IF_ERROR(item.Finish());
  }
  return Status::Ok();
}

Status ReadDuration(Fields& f, const std::string& key, int64_t* out_ms, bool allow_zero) {
  if (!f.Has(key)) return Status::Ok();
  std::string text;
  LOOM_RETURN_IF_ERROR(f.Read(key, &text));
  auto seconds = ParseDuration(text);
  if (!seconds.ok()) return InvalidArgument(f.Where(key) + ": " + seconds.status().message());
  if (*seconds < 0 || (*seconds == 0 && !allow_zero)) {
    return InvalidArgument(f.Where(key) + (allow_zero ? ": must not be negative" : ": must be positive"));
  }
  *out_ms = *seconds * 1000;
  return Status::Ok();
}

Status ReadSection(Fields& top, const std::string& key, const std::function<Status(Fields&)>& read) {
  if (!top.Has(key)) return Status::Ok();
  Fields section = top.Child(key);
  LOOM_RETURN_IF_ERROR(section.Check());
  LOOM_RETURN_IF_ERROR(read(section));
  return section.Finish();
}

StatusOr<ConfigText> ReadConfigFile(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open " + what);
  std::stringstream text;
  text << in.rdbuf();
  const size_t slash = path.find_last_of('/');
  return ConfigText{text.str(), slash == std::string::npos ? path : path.substr(slash + 1)};
}

}  // namespace loom::sched::config
