// loom-supervisor ATTEMPT_DIR < SPEC: the parent of one job attempt's ranks on one node
// (slurmstepd's role). loom-worker starts it in its own session, with what to run
// (SupervisorSpec's JSON) on stdin, so it outlives a worker that is killed or restarted; it
// announces itself and its ranks and records the attempt's result in ATTEMPT_DIR, enforces the
// time limit and --signal whether or not a worker runs, and on a kill request (the `kill` file,
// then SIGUSR1; or a plain SIGTERM) sends SIGTERM, then SIGKILL after the grace.
// The files are described in worker/supervisor_files.h; the decisions are SupervisorCore's.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "common/process.h"
#include "worker/supervisor_core.h"
#include "worker/supervisor_files.h"

namespace {

using loom::worker::RankSpec;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Into ATTEMPT_DIR/supervisor.log, created only when there is something to say (stdout and
// stderr are /dev/null: a file per attempt is a cost, and the worker's log may be gone).
std::string g_dir;
void Log(const std::string& line) {
  if (FILE* f = std::fopen((g_dir + "/supervisor.log").c_str(), "a")) {
    std::fprintf(f, "loom-supervisor: %s\n", line.c_str());
    std::fclose(f);
  }
}

// The one place a rank is exec'd: as the tenant's account where the worker maps one.
loom::StatusOr<pid_t> StartRank(const loom::worker::SupervisorSpec& spec, const RankSpec& rank, pid_t group) {
  loom::SpawnSpec spawn;
  spawn.argv = rank.argv;
  spawn.env = rank.env;
  spawn.workdir = rank.workdir;
  spawn.stdout_path = rank.stdout_path;
  spawn.stderr_path = rank.stderr_path;
  spawn.process_group = group;  // every rank in one group, so their own children are signalled too
  spawn.switch_user = spec.switch_user;
  spawn.uid = spec.uid;
  spawn.gid = spec.gid;
  return loom::Spawn(spawn);
}

class Supervisor {
 public:
  Supervisor(std::string dir, loom::worker::SupervisorSpec spec)
      : dir_(std::move(dir)), spec_(std::move(spec)), core_(spec_.plan, NowMs()) {}

  int Run() {
    bool kill_seen = false;
    if (auto early = KillRequest()) {
      // Killed before it could be signalled: no rank starts.
      core_.OnKill(early->reason, early->grace_ms, NowMs());
      for (size_t i = 0; i < spec_.ranks.size(); ++i) core_.OnRankExit(static_cast<int>(i), 0, 0, NowMs());
      kill_seen = true;
    }
    // Announced with its ranks' pids, in one file: "PID STARTTIME", then a rank pid per line.
    const pid_t self = getpid();
    std::string announce = std::to_string(self) + " " + std::to_string(loom::ProcessStartTime(self)) + "\n";
    for (size_t i = 0; i < spec_.ranks.size() && !core_.done(); ++i) {
      auto pid = StartRank(spec_, spec_.ranks[i], group_);
      if (!pid.ok()) {
        Log(pid.status().message());
        Apply(core_.OnRankExit(static_cast<int>(i), 127, 0, NowMs()));
        continue;
      }
      if (group_ == 0) group_ = *pid;
      rank_of_[*pid] = static_cast<int>(i);
      announce += std::to_string(*pid) + "\n";
    }
    if (loom::Status s = loom::WriteFileAtomically(dir_ + "/supervisor", announce, /*sync=*/false); !s.ok()) {
      Log(s.message());
    }
    // The worker signals only once that file is there; a kill it wrote before, unsignalled, is
    // read here (one of the two always sees a request).
    if (auto late = KillRequest(); late && !kill_seen) Apply(core_.OnKill(late->reason, late->grace_ms, NowMs()));
    while (!core_.done()) {
      sigset_t wait_for = Signals();
      const int64_t next = core_.next_deadline_ms();
      // With a node lease, wake often enough to kill the ranks close to its end: loomd gives their
      // GPUs away kLeaseKillSlackMs after it (scheduler/service/control_plane.cc).
      const int64_t most = spec_.lease_file.empty() ? 1000 : 100;
      const int64_t wait_ms = next > 0 ? std::clamp<int64_t>(next - NowMs(), 1, most) : most;
      timespec ts{static_cast<time_t>(wait_ms / 1000), static_cast<long>(wait_ms % 1000) * 1000000L};
      const int sig = sigtimedwait(&wait_for, nullptr, &ts);
      if (sig == SIGUSR1 || sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
        // A plain SIGTERM (no file): a bare kill.
        const loom::worker::KillRequestFile kill = KillRequest().value_or(loom::worker::KillRequestFile{0, "Killed"});
        Apply(core_.OnKill(kill.reason, kill.grace_ms, NowMs()));
      }
      Reap();  // SIGCHLDs coalesce: reap whatever has exited, every time
      CheckLease();
      Apply(core_.OnTick(NowMs()));
    }
    loom::Status s = loom::WriteFileAtomically(dir_ + "/exit", loom::worker::EncodeResult(core_.result()), /*sync=*/false);
    if (!s.ok()) {
      Log(s.message());
      return 1;
    }
    return 0;
  }

  static sigset_t Signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGUSR1, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    return set;
  }

 private:
  // The worker's kill request (the `kill` file), if it wrote one.
  std::optional<loom::worker::KillRequestFile> KillRequest() const {
    auto text = loom::ReadWholeFile(dir_ + "/kill");
    if (!text.ok()) return std::nullopt;
    return loom::worker::DecodeKill(*text);
  }

  void Reap() {
    for (;;) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;
      auto it = rank_of_.find(pid);
      if (it == rank_of_.end()) continue;
      const int index = it->second;
      rank_of_.erase(it);
      const int code = loom::ExitCode(status);
      const int term = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      Apply(core_.OnRankExit(index, code, term, NowMs()));
    }
  }

  void CheckLease() {
    if (spec_.lease_file.empty()) return;
    struct stat st {};
    if (stat(spec_.lease_file.c_str(), &st) != 0) return;
    auto text = loom::ReadWholeFile(spec_.lease_file);
    const int64_t mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
    if (text.ok() && loom::worker::LeaseExpired(*text, mtime_ms, now_ms)) {
      // No grace: loomd presumes these ranks dead and places their GPUs again.
      Apply(core_.OnKill("NodeLeaseExpired", 1, NowMs()));
    }
  }

  void Apply(const std::vector<int>& signals) {
    for (int sig : signals) {
      for (const auto& [pid, index] : rank_of_) kill(pid, sig);
      if (group_ > 0) kill(-group_, sig);  // the ranks' own children too
    }
  }

  const std::string dir_;
  const loom::worker::SupervisorSpec spec_;
  loom::worker::SupervisorCore core_;
  std::map<pid_t, int> rank_of_;  // live ranks
  pid_t group_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: loom-supervisor ATTEMPT_DIR < SPEC (started by loom-worker)\n");
    return 2;
  }
  const std::string dir = argv[1];
  g_dir = dir;
  sigset_t signals = Supervisor::Signals();
  sigprocmask(SIG_BLOCK, &signals, nullptr);  // before anyone may signal: taken by sigtimedwait
  signal(SIGPIPE, SIG_DFL);  // the worker ignores it; ranks should not inherit that
  auto text = loom::ReadAll(STDIN_FILENO);
  if (!text.ok()) {
    Log(text.status().message());
    return 1;
  }
  auto spec = loom::worker::DecodeSpec(*text);
  if (!spec.ok()) {
    Log(spec.status().message());
    return 1;
  }
  return Supervisor(dir, std::move(*spec)).Run();
}
