// SupervisorCore: the decisions of a job attempt's supervisor (loom-supervisor), without
// processes, files or clocks: time is an argument, and each event returns the signals to send
// to the attempt's ranks. The supervisor process feeds it rank exits, kill requests and ticks.
//
// Rules (the same the worker applied before supervisors existed):
// - the first rank to fail ends the attempt: its siblings get SIGTERM, then SIGKILL after grace;
// - a kill request (cancel, preemption, NotRunningHere, NodeLeaseExpired, ...) does the same and
//   names the reason; the first reason stays;
// - the time limit is a kill with reason "TimeLimit"; `signal` goes to every rank
//   `signal_before_ms` before it (--signal USR1@120), once;
// - SIGKILL is repeated every grace period while ranks survive it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom::worker {

struct SupervisorPlan {
  int ranks = 0;
  int64_t time_limit_ms = 0;     // 0: none
  int signal = 0;                // --signal; 0: none
  int64_t signal_before_ms = 0;
  int64_t grace_ms = 5000;       // SIGTERM to SIGKILL, unless a kill request names its own
};

struct AttemptResult {
  int exit_code = 0;   // first non-zero rank exit code (128+signal), 143 for a bare kill, else 0
  int signal = 0;      // the signal that ended the first failing rank
  std::string reason;  // "", "TimeLimit", or the kill request's reason
};

class SupervisorCore {
 public:
  SupervisorCore(SupervisorPlan plan, int64_t start_ms);

  // Rank `index` exited with `exit_code` (128+signal when `term_signal` killed it).
  std::vector<int> OnRankExit(int index, int exit_code, int term_signal, int64_t now_ms);
  // grace_ms 0: the plan's.
  std::vector<int> OnKill(const std::string& reason, int64_t grace_ms, int64_t now_ms);
  std::vector<int> OnTick(int64_t now_ms);

  bool done() const { return live_ == 0; }
  AttemptResult result() const;
  // The next time OnTick has something to do; 0: nothing scheduled.
  int64_t next_deadline_ms() const;

 private:
  void BeginKill(const std::string& reason, int64_t grace_ms, int64_t now_ms, std::vector<int>& out);

  const SupervisorPlan plan_;
  std::vector<bool> alive_;
  int live_;
  int64_t deadline_ms_ = 0;     // the time limit
  int64_t signal_at_ms_ = 0;    // 0: not scheduled or sent
  int64_t sigkill_at_ms_ = 0;   // 0: no kill in progress
  int64_t kill_grace_ms_ = 0;
  int first_error_ = 0;
  int first_signal_ = 0;
  std::string reason_;
};

}  // namespace loom::worker
