// Bounds on every request loomd accepts, checked in the service before anything is used
// (Kubernetes' API limits, Slurm's MaxJobCount): sizes of names, commands, environment and
// labels; numbers bounded before any arithmetic (time_limit_s * 1000 cannot overflow); no NaN or
// negative utilization. Each returns INVALID_ARGUMENT with a one-line reason. Pure.
#pragma once

#include "common/status.h"
#include "loom/v1/loom.pb.h"

namespace loom::auth {

struct Limits {
  size_t max_name = 256;             // job name
  size_t max_args = 4096;            // command arguments
  size_t max_command_bytes = 65536;  // all of them together
  size_t max_env = 256;              // --env entries
  size_t max_env_bytes = 65536;      // their keys and values together
  size_t max_path = 4096;            // workdir
  size_t max_labels = 64;
  size_t max_label = 128;            // a label's key or value
  size_t max_address = 256;
  int max_gpus = 1 << 20;
  int max_node_gpus = 1024;
  int64_t max_seconds = 366LL * 86400;  // time limit, leaf wait, grace, signal lead time
  int max_abs_priority = 1000000;
  int max_qos = 1000;
  int64_t max_log_read = 4 << 20;
};

Status ValidateJobSpec(const v1::JobSpec& spec, const Limits& limits = {});
Status ValidateNode(const v1::Node& node, const Limits& limits = {});
Status ValidateGpus(const google::protobuf::RepeatedPtrField<v1::Gpu>& gpus, const Limits& limits = {});
Status ValidateReadLog(const v1::ReadLogRequest& request, const Limits& limits = {});
Status ValidateSteps(const v1::ReportStepsRequest& request);

}  // namespace loom::auth
