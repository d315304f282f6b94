// Policy configs: any bytes parse or give a one-line error naming the source; accepted limits
// are never negative.
#include <cstdint>
#include <string>

#include "scheduler/config/policy_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = loom::sched::ParsePolicyConfig(text, "fuzz.yaml");
  if (!config.ok()) {
    if (config.status().message().rfind("fuzz.yaml", 0) != 0) __builtin_trap();
    return 0;
  }
  for (const auto& [tenant, limits] : config->admission.tenants) {
    if (limits.max_pending_jobs < 0 || (limits.max_qos && *limits.max_qos < 0)) __builtin_trap();
  }
  return 0;
}
