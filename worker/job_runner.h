// JobRunner: a node's share of each job, as processes. It starts the ranks (or, for MPI jobs,
// mpirun on the head node and the daemons mpirun asks for on every node), captures their output
// to files, enforces the time limit, kills on request, and reports when the node's part ends.
//
// Thread safety: all public methods may be called from any thread; the exit callback runs on the
// runner's own threads without its lock held.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/process.h"
#include "common/status.h"
#include "loom/v1/loom.pb.h"

namespace loom::worker {

struct RunnerOptions {
  std::string state_dir;                  // logs go to <state_dir>/jobs/<id>/rank-<r>.{out,err}
  std::string launch_agent;               // loom-launch-agent, mpirun's remote-start command
  std::vector<std::string> mpirun_args;   // extra mpirun arguments (e.g. loopback MCA settings)
  int64_t kill_grace_ms = 5000;           // SIGTERM, then SIGKILL after this long
  // A root worker runs each job's processes as its tenant's Unix account ("*": every tenant not
  // named). Empty: as the worker's own user. Not empty: a tenant without an account is refused.
  std::map<std::string, std::string> run_as;
};

struct JobExit {
  int64_t job_id = 0;
  int exit_code = 0;   // first non-zero exit code on this node (128+signal), else 0
  std::string reason;  // "", "TimeLimit", or the reason given to Kill
};

class JobRunner {
 public:
  using ExitCallback = std::function<void(const JobExit&)>;
  JobRunner(RunnerOptions options, ExitCallback on_exit);
  ~JobRunner();  // kills every job and waits for the processes

  // Starts this node's part of a job. Idempotent for a job already running here.
  Status Launch(const v1::LaunchRequest& launch);
  // SIGTERM to the job's processes, SIGKILL after the grace period. No-op for unknown jobs.
  void Kill(int64_t job_id, const std::string& reason);
  void KillAll(const std::string& reason);
  std::vector<int64_t> Running() const;
  StatusOr<v1::ReadLogReply> ReadLog(const v1::ReadLogRequest& request) const;

  // Runs `command` through /bin/sh under a running job (mpirun's orted on this node); its output
  // comes through the returned pipes. The process is killed with the job.
  struct Exec {
    pid_t pid;
    int stdout_fd, stderr_fd;
  };
  // Only with the credential of the job's attempt running here (LaunchRequest.job_token):
  // PERMISSION_DENIED for any other, or for a job not running here.
  StatusOr<Exec> StartExec(int64_t job_id, const std::string& job_token, const std::string& command);
  // Blocks until an exec'd process exits; its exit code.
  int WaitExec(pid_t pid);

  // Busy fraction of each GPU since the previous call: CPU time of the rank driving it (emulated
  // GPUs are CPU work); for an MPI job, of the ranks under its mpirun or orted, shared among the
  // job's GPUs here.
  std::vector<double> Utilization(int gpu_count);

 private:
  struct Proc {
    pid_t pid = 0;
    int gpu = -1;  // index of the GPU this rank drives; -1 for mpirun and exec'd daemons
    bool exec = false;
    bool alive = true;
    uint64_t cpu_ticks = 0;
  };
  struct Job {
    v1::LaunchRequest launch;
    std::string dir;
    std::vector<Proc> procs;
    pid_t process_group = 0;
    bool attach_only = false;   // an MPI job's non-head node: only exec'd daemons run here
    int64_t deadline_ms = 0;
    int first_error = 0;
    std::string kill_reason;
    int64_t sigkill_at_ms = 0;  // 0: no kill in progress
    uint64_t tree_cpu_ticks = 0;  // an MPI job: CPU time of its process trees here, last seen
    bool switch_user = false;     // its processes run as uid/gid (RunnerOptions::run_as)
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user, home;
  };
  // The account `job`'s processes run as, from run_as; FAILED_PRECONDITION for an unmapped tenant.
  Status ResolveAccount(Job& job) const;

  Status StartRanks(Job& job);
  Status StartMpirun(Job& job);
  StatusOr<pid_t> SpawnInJob(Job& job, std::vector<std::string> argv, std::map<std::string, std::string> env,
                             const std::string& out, const std::string& err, int out_fd, int err_fd);
  void SignalJob(const Job& job, int sig) const;
  void BeginKill(Job& job, const std::string& reason, int64_t now_ms);
  void ReapLoop();
  void MonitorLoop();
  // Called with mu_ held when a process of `job_id` ended; may finish the job.
  void OnProcessExit(pid_t pid, int status, std::vector<JobExit>& finished);
  bool MaybeFinish(int64_t job_id, std::vector<JobExit>& finished);
  void Deliver(const std::vector<JobExit>& finished);

  const RunnerOptions options_;
  const ExitCallback on_exit_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Job> jobs_;                 // GUARDED_BY(mu_)
  std::map<pid_t, int64_t> pid_to_job_;         // GUARDED_BY(mu_)
  std::set<pid_t> exec_pids_;                   // GUARDED_BY(mu_): exec'd processes not yet waited for
  std::map<pid_t, int> exec_status_;            // GUARDED_BY(mu_): exited exec'd processes
  int live_children_ = 0;                       // GUARDED_BY(mu_)
  uint64_t spawned_ = 0;                        // GUARDED_BY(mu_): processes ever started
  bool stopping_ = false;                       // GUARDED_BY(mu_)
  int64_t last_utilization_ms_ = 0;             // GUARDED_BY(mu_)
  Spawner spawner_;  // forks from one thread that lives as long as the runner (see Spawner)
  std::thread reaper_, monitor_;
};

}  // namespace loom::worker
