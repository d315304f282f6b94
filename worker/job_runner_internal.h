// What JobRunner's source files share (job_runner.cc, job_runner_exec.cc, job_runner_adopt.cc,
// job_runner_usage.cc). Internal to worker/.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "worker/rank_env.h"

namespace loom::worker::internal {

// Monotonic milliseconds (kill graces, time limits).
int64_t NowMs();
// A rank's captured stdout or stderr under the job's folder.
std::string LogPath(const std::string& dir, int rank, bool err);
// `base` with `over` on top; as root, what Open MPI needs to run at all.
std::map<std::string, std::string> Merge(std::map<std::string, std::string> base, const EnvMap& over);

// Points Open MPI's session files at the attempt's folder (OMPI_MCA_orte_tmpdir_base, for mpirun and
// for the orted an Exec starts): by default every mpirun on a host shares /tmp/ompi.HOST.UID,
// and two concurrent jobs whose 16-bit job families collide fail in orte_init ("mkdir ... File
// exists"), as two emulated clusters' MPI jobs did under ctest -j2.
void SetMpiSessionBase(EnvMap& env, const std::string& attempt_dir);

}  // namespace loom::worker::internal
