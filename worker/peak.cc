#include "worker/peak.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernels/gemm/calibrate.h"

namespace loom::worker {

StatusOr<double> EmulatedPeakTflops(int gpus, const std::string& lock_path) {
  if (gpus < 1) return InvalidArgument("calibration needs at least one GPU");
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return Internal("cannot open " + lock_path + ": " + std::strerror(errno));
  while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  auto flops = gemm::CalibratePeakFlops(gemm::Backend::kCpu);
  close(fd);  // releases the lock
  if (!flops.ok()) return flops.status();
  return *flops / 1e12 / gpus;
}

}  // namespace loom::worker
