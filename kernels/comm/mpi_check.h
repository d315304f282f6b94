// LOOM_MPI_CHECK: returns a Status naming the MPI call, the file, the line and MPI's error string.
// MPI_COMM_WORLD's default handler aborts; communicators made here set MPI_ERRORS_RETURN so that
// errors reach this macro.
#pragma once

#include <mpi.h>

#include <string>

#include "kernels/comm/check.h"

namespace loom::comm::internal {

inline Status MpiError(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return ErrorAt(StatusCode::kUnavailable, file, line,
                 std::string(call) + ": " + std::string(text, static_cast<size_t>(len)));
}

}  // namespace loom::comm::internal

#define LOOM_MPI_CHECK(call)                                                    \
  do {                                                                          \
    const int loom_mpi_rc_ = (call);                                            \
    if (loom_mpi_rc_ != MPI_SUCCESS)                                            \
      return ::loom::comm::internal::MpiError(loom_mpi_rc_, #call, __FILE__, __LINE__); \
  } while (0)
