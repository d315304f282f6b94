// The files through which loom-worker and a job attempt's supervisor (loom-supervisor) talk, all
// in the attempt's folder <home>/nodes/<node>/jobs/<job>/attempt-<n>/ (or, for a daemon mpirun
// started through Exec, in that folder's exec-<id>/, with its output in `out` and `err`). Every
// file is written whole (WriteFileAtomically), so a reader never sees half of one; none is
// fsync'ed, as the supervisors do not outlive a power loss either. They are few on purpose:
// creating files is most of what starting an attempt costs (docs/BENCHMARKS.md).
//
//   launch.pb      worker      the LaunchRequest (a restarted worker rebuilds the job from it)
//   supervisor     supervisor  "PID STARTTIME" (who supervises, robust to pid reuse), then one
//                              rank pid per line in spec order: written once all ranks started
//   kill           worker      "GRACE_MS REASON": a kill request; SIGUSR1 tells the supervisor
//   exit           supervisor  "EXIT_CODE SIGNAL REASON": the attempt is over on this node
//   supervisor.log supervisor  only if it had something to say
// What to run (SupervisorSpec, EncodeSpec's JSON) is the supervisor's stdin, not a file.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/supervisor_core.h"

namespace loom::worker {

struct RankSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // complete
  std::string workdir, stdout_path, stderr_path;
};

struct SupervisorSpec {
  std::vector<RankSpec> ranks;
  SupervisorPlan plan;  // plan.ranks == ranks.size()
  // The node lease (NodeAgent keeps it): the file holds the lease in ms and is rewritten at every
  // answer from loomd. Older than its lease, the supervisor kills the attempt (NodeLeaseExpired),
  // whether the worker is dead, stopped or cut off. Empty, missing or 0: no lease.
  std::string lease_file;
  // The tenant's account (loom-worker --run-as): each rank drops to it before exec.
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Whether a lease file holding `text`, last written at `mtime_ms` (wall clock), has expired.
bool LeaseExpired(const std::string& text, int64_t mtime_ms, int64_t now_ms);

std::string EncodeSpec(const SupervisorSpec& spec);
StatusOr<SupervisorSpec> DecodeSpec(const std::string& text);

std::string EncodeResult(const AttemptResult& result);
StatusOr<AttemptResult> DecodeResult(const std::string& text);

struct KillRequestFile {
  int64_t grace_ms = 0;
  std::string reason;
};
std::string EncodeKill(const KillRequestFile& kill);
KillRequestFile DecodeKill(const std::string& text);  // malformed: a bare kill

// A supervisor as the worker sees it.
struct Supervised {
  pid_t pid = 0;
  uint64_t start = 0;  // its ProcessStartTime, which tells it from a reused pid; 0: never started
  bool Gone() const;   // exited, or never started
};
// What the supervisor in `dir` wrote of itself (`supervisor`); pid 0 if it never did.
Supervised ReadSupervised(const std::string& dir);
// Asks the supervisor in `dir` to kill its ranks: the `kill` file, then SIGUSR1 once it announced
// itself (after blocking the signal; before that it reads the file itself before starting any
// rank, so one of the two always sees the request).
void RequestKill(const std::string& dir, const Supervised& sup, int64_t grace_ms, const std::string& reason);
// Its result once it wrote one, or {137, 0, lost_reason} once it is gone without; nullopt while
// it runs. (The supervisor writes the result before it exits: liveness is read first.)
std::optional<AttemptResult> SupervisorResult(const std::string& dir, const Supervised& sup,
                                              const std::string& lost_reason);

}  // namespace loom::worker
