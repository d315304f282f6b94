// Error macros in the spirit of NCCL's NCCLCHECK / SYSCHECK (src/include/checks.h): a failing call
// returns a loom::Status naming the call, the file and the line, instead of aborting the process.
// Library-specific ones (LOOM_MPI_CHECK, LOOM_CUDA_CHECK, LOOM_NCCL_CHECK) live beside the code
// that includes those libraries.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "common/status.h"

namespace loom::comm::internal {

inline Status ErrorAt(StatusCode code, const char* file, int line, const std::string& what) {
  const char* base = std::strrchr(file, '/');
  return Status(code, std::string(base ? base + 1 : file) + ":" + std::to_string(line) + " " + what);
}

}  // namespace loom::comm::internal

// For POSIX calls that return -1 and set errno.
#define LOOM_SYS_CHECK(call)                                                              \
  do {                                                                                    \
    if ((call) == -1) {                                                                   \
      const int loom_errno_ = errno;                                                      \
      return ::loom::comm::internal::ErrorAt(::loom::StatusCode::kUnavailable, __FILE__, \
                                             __LINE__,                                    \
                                             std::string(#call) + ": " +                  \
                                                 std::strerror(loom_errno_));             \
    }                                                                                     \
  } while (0)
