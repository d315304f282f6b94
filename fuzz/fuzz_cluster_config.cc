// Cluster configs: any bytes parse or give a one-line error naming the source.
#include <cstdint>
#include <string>

#include "scheduler/config/cluster_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = loom::sched::ParseClusterConfig(text, "fuzz.yaml");
  if (!config.ok() && config.status().message().rfind("fuzz.yaml", 0) != 0) __builtin_trap();
  return 0;
}
