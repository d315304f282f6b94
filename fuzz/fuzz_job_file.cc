// Job files (cli/job_file.h): any bytes either parse or give an error; a parsed spec that passes
// loomd's bounds has a time limit whose milliseconds fit in int64.
#include <cstdint>
#include <string>

#include "cli/job_file.h"
#include "scheduler/auth/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = loom::cli::ParseJobFile(text, "fuzz.yaml");
  if (!spec.ok()) {
    if (spec.status().message().empty()) __builtin_trap();  // every refusal says why
    return 0;
  }
  if (loom::auth::ValidateJobSpec(*spec).ok() && spec->time_limit_s() > INT64_MAX / 1000) __builtin_trap();
  return 0;
}
