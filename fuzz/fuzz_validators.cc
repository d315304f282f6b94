// loomd's request bounds (scheduler/auth/validate.h) over arbitrary protobuf bytes: never a
// crash, and whatever they accept is within the bounds they promise.
#include <cmath>
#include <cstdint>

#include "scheduler/auth/validate.h"

namespace {

void CheckSpec(const loom::v1::JobSpec& s) {
  if (!loom::auth::ValidateJobSpec(s).ok()) return;
  const loom::auth::Limits l;
  if (s.time_limit_s() < 0 || s.time_limit_s() > l.max_seconds) __builtin_trap();
  if (static_cast<size_t>(s.env_size()) > l.max_env || static_cast<size_t>(s.command_size()) > l.max_args) __builtin_trap();
  if (s.gpus() < 0 || s.qos() < 0 || s.qos() > l.max_qos) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const void* body = data + 1;
  const int n = static_cast<int>(size - 1);
  switch (data[0] % 4) {  // the first byte picks the message
    case 0: {
      loom::v1::SubmitRequest r;
      if (r.ParseFromArray(body, n)) CheckSpec(r.spec());
      break;
    }
    case 1: {
      loom::v1::RegisterRequest r;
      if (r.ParseFromArray(body, n) && loom::auth::ValidateNode(r.node()).ok()) {
        for (const auto& g : r.node().gpus()) {
          if (!std::isfinite(g.utilization()) || g.utilization() < 0 || g.utilization() > 1) __builtin_trap();
        }
        if (r.node().name().empty() || r.node().name().size() > 63) __builtin_trap();
      }
      break;
    }
    case 2: {
      loom::v1::HeartbeatRequest r;
      if (r.ParseFromArray(body, n)) (void)loom::auth::ValidateGpus(r.gpus());
      break;
    }
    case 3: {
      loom::v1::ReadLogRequest r;
      if (r.ParseFromArray(body, n) && loom::auth::ValidateReadLog(r).ok() &&
          (r.offset() < 0 || r.max_bytes() > loom::auth::Limits().max_log_read)) {
        __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
