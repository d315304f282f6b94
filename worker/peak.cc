#include "worker/peak.h"

#include <cblas.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstring>

#include "kernels/gemm/calibrate.h"

namespace loom::worker {

int EmulatedGpuCores(int machine_gpus) {
  cpu_set_t set;
  const int cores = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  return std::max(1, cores / std::max(1, machine_gpus));
}

StatusOr<double> EmulatedPeakTflops(int cores, const std::string& lock_path) {
  if (cores < 1) return InvalidArgument("calibration needs at least one core");
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return Internal("cannot open " + lock_path + ": " + std::strerror(errno));
  while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  openblas_set_num_threads(cores);  // as many threads as the GPU's rank will have
  auto flops = gemm::CalibratePeakFlops(gemm::Backend::kCpu);
  close(fd);  // releases the lock
  if (!flops.ok()) return flops.status();
  return *flops / 1e12;
}

}  // namespace loom::worker
