// JobRunner: a node's share of each job attempt, as processes. Each attempt's ranks (or, for an
// MPI job, mpirun on the head node) are children of a per-attempt supervisor (loom-supervisor,
// slurmstepd's role) that outlives the worker: it captures their output to files, enforces the
// time limit and --signal, kills on request and records the result in the attempt's folder
// (worker/supervisor_files.h). The runner starts supervisors, hands them kill requests, notices
// their results, and after a worker restart re-adopts the attempts an earlier worker left
// (Adopt). The daemons mpirun asks for on every node (Exec) run under supervisors of their own
// in the same way, so an MPI job survives the restart of any of its nodes' workers.
// Attempts are keyed by (job, attempt): a kill names the attempt it means, and a job never has
// two attempts here at once.
//
// Thread safety: all public methods may be called from any thread; the exit callback runs on the
// runner's own threads without its lock held.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/process.h"
#include "common/status.h"
#include "loom/v1/loom.pb.h"
#include "worker/launch_fence.h"
#include "worker/health.h"
#include "worker/rank_env.h"
#include "worker/supervisor_files.h"

namespace loom::worker {

struct RunnerOptions {
  std::string state_dir;                  // logs go to <state_dir>/jobs/<id>/rank-<r>.{out,err}
  std::string launch_agent;               // loom-launch-agent, mpirun's remote-start command
  std::vector<std::string> mpirun_args;   // extra mpirun arguments (e.g. loopback MCA settings)
  std::string supervisor;                 // loom-supervisor
  std::string lease_file;                 // the node lease's file (SupervisorSpec::lease_file)
  int64_t kill_grace_ms = 5000;           // SIGTERM, then SIGKILL after this long
  // A root worker runs each job's processes as its tenant's Unix account ("*": every tenant not
  // named). Empty: as the worker's own user. Not empty: a tenant without an account is refused.
  std::map<std::string, std::string> run_as;
  // With run_as empty: refuse every launch (a root worker with no mapping; ranks never run as
  // root unless the operator says so with loom-worker --allow-root-ranks).
  bool refuse_unmapped = false;
};

// One attempt of one job.
struct AttemptKey {
  int64_t job_id = 0;
  int attempt = 0;
  auto operator<=>(const AttemptKey&) const = default;
};

struct JobExit {
  int64_t job_id = 0;
  int attempt = 0;
  int exit_code = 0;   // first non-zero exit code on this node (128+signal), else 0
  int signal = 0;      // the signal that ended the first failing rank, 0 if it exited
  std::string reason;  // "", "TimeLimit", or the reason given to Kill
};

class JobRunner {
 public:
  using ExitCallback = std::function<void(const JobExit&)>;
  JobRunner(RunnerOptions options, ExitCallback on_exit);
  ~JobRunner();  // kills every job and waits for the processes

  // Takes over the attempts an earlier worker with the same state_dir left: running ones are
  // listed by Running() again, finished ones are reported through the exit callback now.
  // Returns how many were found. Call once, before the first Launch.
  int Adopt();

  // Starts this node's part of a job attempt. Idempotent for the attempt already running here;
  // FAILED_PRECONDITION while another attempt of the job still runs here, or when the fence
  // refuses it (launch_fence.h: another registration, a lost lease, a launch loomd gave up on).
  Status Launch(const v1::LaunchRequest& launch);
  // Atomically with Launch: from now on only launches stamped `registration` are accepted, and
  // the attempts returned are what that registration tells loomd runs here. (0, the default
  // before any registration, is what a LaunchRequest without a stamp carries.)
  std::vector<AttemptKey> BeginRegistration(uint64_t registration);
  // The node lease ran out: no launch is accepted until the next BeginRegistration.
  void DropRegistration();
  // loomd's fence from a heartbeat reply (HeartbeatReply.launch_fence).
  void ApplyLaunchFence(uint64_t registration, uint64_t fence);
  // Called before each launch is decided (the node agent checks its lease there: a worker woken
  // from SIGSTOP must not start a launch that waited in its socket past the lease).
  void set_before_launch(std::function<void()> hook);
  // SIGTERM to the attempt's processes, SIGKILL after `grace_ms` (0: the runner's default).
  // attempt 0 means every attempt of the job (an older loomd). No-op for unknown attempts.
  void Kill(int64_t job_id, int attempt, const std::string& reason, int64_t grace_ms = 0);
  void KillAll(const std::string& reason);
  std::vector<AttemptKey> Running() const;
  // The same, with the fence's mark read under the same lock (HeartbeatRequest.launch_mark).
  std::vector<AttemptKey> Running(uint64_t* launch_mark) const;
  StatusOr<v1::ReadLogReply> ReadLog(const v1::ReadLogRequest& request) const;

  // Runs `command` through /bin/sh under a running job (mpirun's orted on this node), as the one
  // rank of a supervisor of its own: it outlives a worker restart, its output goes to the files
  // named here, and it is killed with the job.
  struct ExecInfo {
    int id = 0;  // per attempt, from 1
    std::string stdout_path, stderr_path;
  };
  // Only with the credential of the job's attempt running here (LaunchRequest.job_token):
  // PERMISSION_DENIED for any other, or for a job not running here.
  StatusOr<ExecInfo> StartExec(int64_t job_id, const std::string& job_token, const std::string& command);
  // An exec started earlier, perhaps by the worker before a restart; the same credential check,
  // NOT_FOUND for an id the attempt does not have.
  StatusOr<ExecInfo> FindExec(int64_t job_id, const std::string& job_token, int exec_id);
  // Waits up to `wait` for the exec to end: its exit code once it has (137 once its attempt has
  // ended here), nullopt while it runs.
  std::optional<int> WaitExecEnd(int64_t job_id, int exec_id, std::chrono::milliseconds wait);
  // Its caller went away for good (as an ssh client can): the exec is killed.
  void KillExec(int64_t job_id, int exec_id);
  // Runs `command` through /bin/sh outside any job (the health check), for at most `timeout`;
  // the runner's reaper owns waitpid, so other children are started here too.
  CheckRun RunCommand(const std::string& command, std::chrono::milliseconds timeout);

  // Busy fraction of each GPU since the previous call: CPU time of the rank driving it (emulated
  // GPUs are CPU work); for an MPI job, of the ranks under its mpirun or orted, shared among the
  // job's GPUs here.
  std::vector<double> Utilization(int gpu_count);

 private:
  struct Proc {
    pid_t pid = 0;
    int gpu = -1;  // index of the GPU this rank drives; -1 for mpirun
    uint64_t cpu_ticks = 0;  // as last seen (a rank that is gone reads 0)
  };
  struct ExecRun {
    int id = 0;
    std::string dir;  // its supervisor's files: <attempt_dir>/exec-<id>
    Supervised supervisor;
    bool done = false;
    int exit_code = 0;
  };
  struct Job {
    AttemptKey key;
    v1::LaunchRequest launch;
    std::string dir;             // the job's output: <state_dir>/jobs/<id>
    std::string attempt_dir;     // the supervisor's files: <dir>/attempt-<n>
    Supervised supervisor;       // pid 0: none (an MPI job's non-head node)
    bool ranks_loaded = false;   // the rank pids the supervisor announced were read into procs
    std::vector<int> rank_gpus;  // per rank in spec order: the GPU it drives, -1 for mpirun
    std::vector<Proc> procs;     // ranks (for utilization)
    std::vector<ExecRun> execs;  // exec'd daemons, by id
    bool attach_only = false;    // an MPI job's non-head node: only exec'd daemons run here
    std::string kill_reason;
    int64_t failsafe_at_ms = 0;  // supervisors still there now are SIGKILLed (their ranks die with them)
    uint64_t tree_cpu_ticks = 0;  // an MPI job: CPU time of its process trees here, last seen
    bool switch_user = false;     // its processes run as uid/gid (RunnerOptions::run_as)
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user, home;
  };
  struct Finished {
    JobExit exit;
    std::string attempt_dir;  // removed once the exit is delivered
  };
  // The account `job`'s processes run as, from run_as; FAILED_PRECONDITION for an unmapped tenant.
  Status ResolveAccount(Job& job) const;

  // What the supervisor runs for this node's part of the job, and with which plan.
  StatusOr<SupervisorSpec> BuildSpec(Job& job) const;  // also fills job.rank_gpus
  Status StartSupervisor(Job& job);
  // Starts loom-supervisor on `dir` with `spec` on its stdin, in a session of its own.
  StatusOr<Supervised> SpawnSupervisor(const AttemptKey& key, const std::string& dir, const SupervisorSpec& spec);
  // What the supervisor of an exec runs: `command` through /bin/sh, with the node's environment.
  SupervisorSpec ExecSpec(const Job& job, const std::string& dir, const std::string& command) const;
  ExecRun* FindExecRun(Job& job, int exec_id);
  // The attempt of `job_id` running here, if `job_token` is its credential (mu_ held).
  StatusOr<Job*> FindJobWithToken(int64_t job_id, const std::string& job_token);
  // SIGKILLs the exec supervisors still there (their daemons die with them).
  static void KillExecSupervisors(const Job& job);
  // Marks the execs whose supervisors finished (or are gone) done; true if one was (mu_ held).
  bool PollExecs(Job& job);
  void LoadExecs(Job& job);  // an adopted attempt's execs, from their folders
  int WaitCommand(pid_t pid);  // RunCommand's process: its exit code
  std::vector<AttemptKey> KeysLocked() const;  // mu_ held
  // A supervised attempt: its result if the supervisor finished or is gone (mu_ held).
  bool PollSupervisor(Job& job, std::vector<Finished>& finished);
  void LoadRanks(Job& job);
  void BeginKill(Job& job, const std::string& reason, int64_t now_ms, int64_t grace_ms);
  int64_t GraceMs(const Job& job) const;
  Job* FindJob(int64_t job_id);  // the attempt of the job that runs here, if any
  void ReapLoop();
  void MonitorLoop();
  // Called with mu_ held when a process of `job_id` ended; may finish the job.
  void OnProcessExit(pid_t pid, int status, std::vector<Finished>& finished);
  bool MaybeFinish(const AttemptKey& key, std::vector<Finished>& finished);
  void Finish(Job& job, JobExit exit, std::vector<Finished>& finished);
  void Deliver(const std::vector<Finished>& finished);

  const RunnerOptions options_;
  const ExitCallback on_exit_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<AttemptKey, Job> jobs_;              // GUARDED_BY(mu_)
  std::map<pid_t, AttemptKey> pid_to_job_;      // GUARDED_BY(mu_)
  std::set<pid_t> command_pids_;                // GUARDED_BY(mu_): RunCommand's processes not yet waited for
  std::map<pid_t, int> command_status_;         // GUARDED_BY(mu_): exited RunCommand processes
  int live_children_ = 0;                       // GUARDED_BY(mu_)
  uint64_t spawned_ = 0;                        // GUARDED_BY(mu_): processes ever started
  bool stopping_ = false;                       // GUARDED_BY(mu_)
  LaunchFence fence_;                           // GUARDED_BY(mu_)
  std::function<void()> before_launch_;         // GUARDED_BY(mu_)
  int64_t last_utilization_ms_ = 0;             // GUARDED_BY(mu_)
  Spawner spawner_;  // forks from one thread that lives as long as the runner (see Spawner)
  std::thread reaper_, monitor_;
};

}  // namespace loom::worker
