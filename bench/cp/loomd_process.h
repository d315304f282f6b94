// A loomd child process for loom-bench cp: a fresh temporary home, a free loopback port, and
// always stopped (SIGTERM, then SIGKILL) and its home removed when the object goes away. It also
// dies with the bench (Spawn's PR_SET_PDEATHSIG), so a killed bench leaves no loomd behind.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace loom::bench {

// CPU time and peak memory of a process, from /proc.
struct ProcUsage {
  double cpu_s = 0;      // utime + stime
  int64_t hwm_kib = 0;   // VmHWM: peak resident set
  int64_t rss_kib = 0;   // VmRSS: resident now
};
StatusOr<ProcUsage> ReadProcUsage(pid_t pid);

class LoomdProcess {
 public:
  // Starts `binary` with `args` added to its home and listen flags and waits (bounded) for it to
  // announce its address.
  static StatusOr<std::unique_ptr<LoomdProcess>> Start(const std::string& binary,
                                                       const std::vector<std::string>& args);
  ~LoomdProcess();
  LoomdProcess(const LoomdProcess&) = delete;
  LoomdProcess& operator=(const LoomdProcess&) = delete;

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  // Its stderr so far (for a failure message).
  std::string LogTail() const;

 private:
  LoomdProcess() = default;
  void Stop();

  pid_t pid_ = -1;
  std::string home_, address_;
};

}  // namespace loom::bench
