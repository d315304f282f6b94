// Starting child processes safely from a multi-threaded daemon: everything the child needs is
// prepared before fork(), and the child calls only async-signal-safe functions before exec.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace loom {

struct SpawnSpec {
  std::vector<std::string> argv;             // argv[0] is searched in PATH when it has no '/'
  std::map<std::string, std::string> env;    // the complete environment
  std::string workdir;                       // empty: inherit
  std::string stdout_path, stderr_path;      // appended to; or
  int stdout_fd = -1, stderr_fd = -1;        // dup2'ed when the paths are empty
  int stdin_fd = -1;                         // dup2'ed as stdin; -1: /dev/null
  pid_t process_group = 0;                   // join this group; 0 (or gone): lead a new one
  // A job's supervisor outlives the worker that starts it: its own session (no signal meant for
  // the worker's group or terminal reaches it) and no PR_SET_PDEATHSIG.
  bool own_session = false;
  // Run as this account (a root worker's ranks): the log files become its own (mode 0600), then
  // the child takes its groups and ids before entering `workdir` and exec.
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Forks and execs. The child dies with its parent (PR_SET_PDEATHSIG) so a killed worker (or
// supervisor) leaves no ranks behind, unless `own_session`. Returns the child's pid; NOT_FOUND if
// the program is not on PATH.
StatusOr<pid_t> Spawn(const SpawnSpec& spec);

// Runs Spawn on one long-lived thread. PR_SET_PDEATHSIG fires when the *thread* that forked the
// child exits, not the process: children forked from a pool thread (gRPC's, say) would be killed
// when the pool shrinks. Daemons that fork from many threads spawn through one of these instead.
class Spawner {
 public:
  Spawner();
  ~Spawner();
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;
  StatusOr<pid_t> Spawn(const SpawnSpec& spec);

 private:
  struct Request;
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request*> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;           // GUARDED_BY(mu_)
  std::thread thread_;
};

// The current process environment as a map.
std::map<std::string, std::string> CurrentEnvironment();

// Resolves `program` against $PATH like execvp, in the parent where allocating is allowed.
StatusOr<std::string> FindProgram(const std::string& program);

// Exit status as a shell reports it: the code, or 128 + signal.
int ExitCode(int wait_status);

// When `pid` started (/proc/<pid>/stat's starttime, clock ticks since boot); 0 if there is no
// such process or it is a zombie. A pid with the start time recorded earlier is the same process:
// pids are reused, (pid, start time) pairs are not.
uint64_t ProcessStartTime(pid_t pid);

// Every process's children (parent pid -> child pids), from /proc.
std::multimap<pid_t, pid_t> ProcessTree();
// The live children of `parent`, from /proc (for a subreaper ending what was re-parented to it).
std::vector<pid_t> ChildrenOf(pid_t parent);

// Writes `data` to `path` whole or not at all: a temporary file, fsync (when `sync`), rename.
// Without the fsync a reader never sees half a file either; only a power loss may lose it.
Status WriteFileAtomically(const std::string& path, const std::string& data, bool sync = true);
// A file's content; NOT_FOUND if it cannot be read.
StatusOr<std::string> ReadWholeFile(const std::string& path);
// What is left to read from `fd` (a pipe, stdin), until end of file.
StatusOr<std::string> ReadAll(int fd);
// An anonymous in-memory file (memfd) holding `data`, positioned at its start, close-on-exec: a
// child's stdin that needs no file on disk. The caller closes it.
StatusOr<int> MemoryFile(const char* name, const std::string& data);

}  // namespace loom
