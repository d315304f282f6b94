// What JobRunner's source files share (job_runner.cc, job_runner_exec.cc, job_runner_adopt.cc,
// job_runner_usage.cc). Internal to worker/.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "loom/v1/loom.pb.h"
#include "worker/rank_env.h"

namespace loom::worker::internal {

// Monotonic milliseconds (kill graces, time limits).
int64_t NowMs();
// A rank's captured stdout or stderr under the job's folder.
std::string LogPath(const std::string& dir, int rank, bool err);
// `base` with `over` on top; as root, what Open MPI needs to run at all.
std::map<std::string, std::string> Merge(std::map<std::string, std::string> base, const EnvMap& over);

// Where Open MPI keeps its session files for this node's part of an attempt: <attempt_dir>/mpi,
// made by Launch and owned by the job's account. By default every mpirun and orted on a host
// share /tmp/ompi.HOST.UID, and two whose 16-bit job families collide fail in orte_init ("mkdir
// ... File exists"): two concurrent jobs' (two emulated clusters under ctest -j2), or one job's
// mpirun and its orted, racing to make the same folder when emulated nodes share a host.
std::string MpiSessionDir(const std::string& attempt_dir);
// Points mpirun or an orted at that folder through TMPDIR, where Open MPI looks when no MCA
// parameter names one (the ranks inherit it: their temporary files go with the attempt). Not
// orte_tmpdir_base: mpirun passes it on to the orteds' command lines, where it overrides their
// own node's; and the HNP- and daemon-only parameters conflict with the one the ranks are given.
// A TMPDIR in the job's own environment (`env`, from the spec) is left as it is.
void SetMpiSessionBase(EnvMap& env, const v1::JobSpec& spec, const std::string& attempt_dir);

}  // namespace loom::worker::internal
