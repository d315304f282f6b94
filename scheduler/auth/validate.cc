#include "scheduler/auth/validate.h"

#include <cmath>

#include "common/node_name.h"
#include "scheduler/auth/token_store.h"

namespace loom::auth {
namespace {

Status Bad(const std::string& why) { return InvalidArgument(why); }

bool EnvKeyOk(const std::string& k) {
  if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
  for (char c : k) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

Status Seconds(const char* field, int64_t v, const Limits& l) {
  if (v < 0 || v > l.max_seconds) return Bad(std::string(field) + " must be between 0 and " + std::to_string(l.max_seconds) + " seconds");
  return Status::Ok();
}

bool Finite01(double v) { return std::isfinite(v) && v >= 0 && v <= 1; }
bool FiniteNonNegative(double v) { return std::isfinite(v) && v >= 0; }

}  // namespace

Status ValidateJobSpec(const v1::JobSpec& s, const Limits& l) {
  if (s.name().size() > l.max_name || HasNul(s.name())) return Bad("job name must be at most " + std::to_string(l.max_name) + " characters");
  if (!s.tenant().empty()) LOOM_RETURN_IF_ERROR(ValidateTenant(s.tenant()));
  if (s.gpus() < 0 || s.gpus() > l.max_gpus) return Bad("gpus must be between 1 and " + std::to_string(l.max_gpus));
  if (s.gpus_per_node() < 0 || s.gpus_per_node() > l.max_node_gpus) return Bad("gpus_per_node must be between 0 and " + std::to_string(l.max_node_gpus));
  if (s.tasks_per_node() < 0 || s.tasks_per_node() > l.max_node_gpus) return Bad("tasks_per_node must be between 0 and " + std::to_string(l.max_node_gpus));
  LOOM_RETURN_IF_ERROR(Seconds("time limit", s.time_limit_s(), l));
  LOOM_RETURN_IF_ERROR(Seconds("leaf wait", s.leaf_wait_s(), l));
  LOOM_RETURN_IF_ERROR(Seconds("grace", s.grace_s(), l));
  LOOM_RETURN_IF_ERROR(Seconds("signal lead time", s.signal_before_s(), l));
  if (s.priority() < -l.max_abs_priority || s.priority() > l.max_abs_priority) {
    return Bad("priority must be between -" + std::to_string(l.max_abs_priority) + " and " + std::to_string(l.max_abs_priority));
  }
  if (s.qos() < 0 || s.qos() > l.max_qos) return Bad("qos must be between 0 and " + std::to_string(l.max_qos));
  if (s.signal() < 0 || s.signal() > 64) return Bad("signal must be a signal number (1-64)");
  if (s.has_max_requeues() && (s.max_requeues() < 0 || s.max_requeues() > 1000)) return Bad("max_requeues must be between 0 and 1000");
  if (!v1::LeafPolicy_IsValid(s.leaf())) return Bad("unknown leaf policy");
  if (s.dependencies_size() > 1000) return Bad("at most 1000 dependency terms");
  if (s.array().size() > 1024) return Bad("--array spec longer than 1024 characters");
  if (static_cast<size_t>(s.command_size()) > l.max_args) return Bad("command has more than " + std::to_string(l.max_args) + " arguments");
  size_t bytes = 0;
  for (const std::string& a : s.command()) {
    if (HasNul(a)) return Bad("command arguments must not contain NUL");
    bytes += a.size();
  }
  if (bytes > l.max_command_bytes) return Bad("command is longer than " + std::to_string(l.max_command_bytes) + " bytes");
  if (static_cast<size_t>(s.env_size()) > l.max_env) return Bad("more than " + std::to_string(l.max_env) + " --env entries");
  bytes = 0;
  for (const auto& [k, v] : s.env()) {
    if (!EnvKeyOk(k)) return Bad("--env name '" + k.substr(0, 40) + "' must be letters, digits and '_', not starting with a digit");
    if (HasNul(v)) return Bad("--env " + k + " must not contain NUL");
    bytes += k.size() + v.size();
  }
  if (bytes > l.max_env_bytes) return Bad("--env entries are longer than " + std::to_string(l.max_env_bytes) + " bytes");
  if (s.workdir().size() > l.max_path || HasNul(s.workdir())) return Bad("workdir must be at most " + std::to_string(l.max_path) + " characters");
  return Status::Ok();
}

Status ValidateGpus(const google::protobuf::RepeatedPtrField<v1::Gpu>& gpus, const Limits& l) {
  if (gpus.size() > l.max_node_gpus) return Bad("a node may have at most " + std::to_string(l.max_node_gpus) + " GPUs");
  for (const v1::Gpu& g : gpus) {
    if (g.model().size() > l.max_label) return Bad("GPU model name too long");
    if (g.memory_bytes() < 0) return Bad("GPU memory must not be negative");
    if (!Finite01(g.utilization())) return Bad("GPU utilization must be a number between 0 and 1");
    if (!FiniteNonNegative(g.peak_tflops()) || g.peak_tflops() > 1e6) return Bad("GPU peak TFLOP/s must be between 0 and 1e6");
  }
  return Status::Ok();
}

Status ValidateNode(const v1::Node& n, const Limits& l) {
  LOOM_RETURN_IF_ERROR(ValidateNodeName(n.name()));
  if (n.address().empty() || n.address().size() > l.max_address || HasNul(n.address())) return Bad("node address must be 1 to " + std::to_string(l.max_address) + " characters");
  if (n.host().size() > l.max_address || HasNul(n.host())) return Bad("node host too long");
  if (static_cast<size_t>(n.labels_size()) > l.max_labels) return Bad("a node may have at most " + std::to_string(l.max_labels) + " labels");
  for (const auto& [k, v] : n.labels()) {
    if (k.empty() || k.size() > l.max_label || v.size() > l.max_label || HasNul(k) || HasNul(v)) {
      return Bad("label keys and values must be at most " + std::to_string(l.max_label) + " characters");
    }
  }
  return ValidateGpus(n.gpus(), l);
}

Status ValidateReadLog(const v1::ReadLogRequest& r, const Limits& l) {
  if (r.rank() < 0) return Bad("rank must not be negative");
  if (r.offset() < 0) return Bad("offset must not be negative");
  if (r.max_bytes() < 0 || r.max_bytes() > l.max_log_read) return Bad("max_bytes must be between 0 and " + std::to_string(l.max_log_read));
  return Status::Ok();
}

Status ValidateSteps(const v1::ReportStepsRequest& r) {
  if (r.steps_size() > 10000) return Bad("at most 10000 steps per report");
  for (const v1::StepSample& s : r.steps()) {
    for (double v : {s.step_s(), s.compute_s(), s.exposed_comm_s(), s.model_flops(), s.busbw_gbps()}) {
      if (!FiniteNonNegative(v)) return Bad("step figures must be non-negative numbers");
    }
  }
  return Status::Ok();
}

}  // namespace loom::auth
