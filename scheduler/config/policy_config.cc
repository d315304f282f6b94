#include "scheduler/config/policy_config.h"

#include <algorithm>

#include "scheduler/config/yaml_fields.h"

namespace loom::sched {
namespace {

using config::Fields;

using config::ReadDuration;
using config::ReadSection;

// max_qos, max_priority, max_pending_jobs of `limits:` or of one tenant; absent keys are kept.
Status ReadTenantLimits(Fields& f, TenantLimits* out) {
  if (f.Has("max_qos")) {
    int v = 0;
    LOOM_RETURN_IF_ERROR(f.NonNegative("max_qos", &v));
    out->max_qos = v;
  }
  if (f.Has("max_priority")) {
    int v = 0;
    LOOM_RETURN_IF_ERROR(f.Read("max_priority", &v));
    out->max_priority = v;
  }
  return f.NonNegative("max_pending_jobs", &out->max_pending_jobs);
}

}  // namespace

StatusOr<PolicyConfig> ParsePolicyConfig(const std::string& yaml, const std::string& source) {
  LOOM_ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(yaml, source));
  Fields top(root, source, "");
  // An empty file is a config that changes nothing.
  if (!root.IsNull()) LOOM_RETURN_IF_ERROR(top.Check());
  PolicyConfig out;
  PolicySettings& s = out.settings;

  LOOM_RETURN_IF_ERROR(top.Read("policy", &out.policy, /*required=*/false));
  if (top.Has("policy")) {
    const std::vector<std::string> names = PolicyNames();
    if (std::find(names.begin(), names.end(), out.policy) == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      return InvalidArgument(top.Where("policy") + ": unknown policy '" + out.policy +
                             "' (known: " + known + ")");
    }
  }
  LOOM_RETURN_IF_ERROR(ReadSection(top, "weights", [&](Fields& f) {
    LOOM_RETURN_IF_ERROR(f.NonNegative("age", &s.weights.age));
    LOOM_RETURN_IF_ERROR(f.NonNegative("fair_share", &s.weights.fair_share));
    LOOM_RETURN_IF_ERROR(f.NonNegative("job_size", &s.weights.job_size));
    LOOM_RETURN_IF_ERROR(f.NonNegative("qos", &s.weights.qos));
    LOOM_RETURN_IF_ERROR(ReadDuration(f, "max_age", &s.weights.max_age_ms));
    if (f.Has("max_qos")) LOOM_RETURN_IF_ERROR(f.Positive("max_qos", &s.weights.max_qos));
    return Status::Ok();
  }));
  LOOM_RETURN_IF_ERROR(ReadSection(top, "fair_share", [&](Fields& f) {
    LOOM_RETURN_IF_ERROR(ReadDuration(f, "half_life", &s.fair_share.half_life_ms));
    return f.NonNegative("default_weight", &s.fair_share.default_weight);
  }));
  // The default limits come first: a tenant's own keys override them one by one.
  LOOM_RETURN_IF_ERROR(ReadSection(top, "limits", [&](Fields& f) {
    return ReadTenantLimits(f, &out.admission.defaults);
  }));
  LOOM_RETURN_IF_ERROR(config::ForEachEntry(top, "tenants", [&](const std::string& name, Fields& f) {
    TenantShare share;
    LOOM_RETURN_IF_ERROR(f.NonNegative("weight", &share.weight));
    LOOM_RETURN_IF_ERROR(f.NonNegative("gpu_quota", &share.gpu_quota));
    s.fair_share.tenants[name] = share;
    TenantLimits limits = out.admission.defaults;
    LOOM_RETURN_IF_ERROR(ReadTenantLimits(f, &limits));
    out.admission.tenants[name] = limits;
    return Status::Ok();
  }));
  LOOM_RETURN_IF_ERROR(ReadSection(top, "backfill", [&](Fields& f) {
    LOOM_RETURN_IF_ERROR(f.NonNegative("max_reservations", &s.backfill.max_reservations));
    LOOM_RETURN_IF_ERROR(f.Read("preemption", &s.backfill.preemption, /*required=*/false));
    return f.NonNegative("max_preemption_plans", &s.backfill.max_preemption_plans);
  }));
  LOOM_RETURN_IF_ERROR(ReadSection(top, "jobs", [&](Fields& f) {
    LOOM_RETURN_IF_ERROR(ReadDuration(f, "grace", &out.jobs.grace_ms));
    LOOM_RETURN_IF_ERROR(ReadDuration(f, "max_grace", &out.jobs.max_grace_ms));
    LOOM_RETURN_IF_ERROR(f.NonNegative("max_requeues", &out.jobs.max_requeues));
    if (out.jobs.grace_ms > out.jobs.max_grace_ms) {
      return InvalidArgument(f.Where("grace") + ": must not exceed max_grace");
    }
    return Status::Ok();
  }));
  if (!root.IsNull()) LOOM_RETURN_IF_ERROR(top.Finish());
  return out;
}

StatusOr<PolicyConfig> LoadPolicyConfig(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(config::ConfigText file, config::ReadConfigFile(path, "the policy config"));
  return ParsePolicyConfig(file.text, file.source);
}

}  // namespace loom::sched
