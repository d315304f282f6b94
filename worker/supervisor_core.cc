#include "worker/supervisor_core.h"

#include <signal.h>

#include <algorithm>

namespace loom::worker {

SupervisorCore::SupervisorCore(SupervisorPlan plan, int64_t start_ms)
    : plan_(plan), alive_(static_cast<size_t>(std::max(plan.ranks, 0)), true), live_(std::max(plan.ranks, 0)) {
  if (plan_.time_limit_ms > 0) {
    deadline_ms_ = start_ms + plan_.time_limit_ms;
    if (plan_.signal > 0 && plan_.signal_before_ms > 0) {
      // A limit shorter than the warning still gets the signal, at once.
      signal_at_ms_ = std::max(start_ms, deadline_ms_ - plan_.signal_before_ms);
      if (signal_at_ms_ == 0) signal_at_ms_ = 1;
    }
  }
}

void SupervisorCore::BeginKill(const std::string& reason, int64_t grace_ms, int64_t now_ms, std::vector<int>& out) {
  if (reason_.empty()) reason_ = reason.empty() ? "Killed" : reason;
  signal_at_ms_ = 0;  // no checkpoint warning once the attempt is going away
  if (sigkill_at_ms_ != 0) return;
  kill_grace_ms_ = grace_ms > 0 ? grace_ms : plan_.grace_ms;
  sigkill_at_ms_ = now_ms + kill_grace_ms_;
  out.push_back(SIGTERM);
}

std::vector<int> SupervisorCore::OnRankExit(int index, int exit_code, int term_signal, int64_t now_ms) {
  std::vector<int> out;
  if (index < 0 || index >= static_cast<int>(alive_.size()) || !alive_[static_cast<size_t>(index)]) return out;
  alive_[static_cast<size_t>(index)] = false;
  --live_;
  if (exit_code != 0 && first_error_ == 0) {
    first_error_ = exit_code;
    first_signal_ = term_signal;
    // One failed rank fails the attempt: stop its siblings instead of leaving them in a collective.
    if (reason_.empty() && sigkill_at_ms_ == 0 && live_ > 0) {
      kill_grace_ms_ = plan_.grace_ms;
      sigkill_at_ms_ = now_ms + kill_grace_ms_;
      out.push_back(SIGTERM);
    }
  }
  return out;
}

std::vector<int> SupervisorCore::OnKill(const std::string& reason, int64_t grace_ms, int64_t now_ms) {
  std::vector<int> out;
  if (done()) return out;
  BeginKill(reason, grace_ms, now_ms, out);
  return out;
}

std::vector<int> SupervisorCore::OnTick(int64_t now_ms) {
  std::vector<int> out;
  if (done()) return out;
  if (sigkill_at_ms_ > 0 && now_ms >= sigkill_at_ms_) {
    out.push_back(SIGKILL);
    sigkill_at_ms_ = now_ms + std::max<int64_t>(kill_grace_ms_, 100);  // again if something survived
  } else if (deadline_ms_ > 0 && now_ms >= deadline_ms_ && reason_.empty()) {
    BeginKill("TimeLimit", 0, now_ms, out);
  } else if (signal_at_ms_ > 0 && now_ms >= signal_at_ms_) {
    out.push_back(plan_.signal);  // --signal: time to checkpoint
    signal_at_ms_ = 0;
  }
  return out;
}

int64_t SupervisorCore::next_deadline_ms() const {
  int64_t next = 0;
  for (int64_t t : {sigkill_at_ms_, reason_.empty() ? deadline_ms_ : 0, signal_at_ms_}) {
    if (t > 0 && (next == 0 || t < next)) next = t;
  }
  return next;
}

AttemptResult SupervisorCore::result() const {
  AttemptResult r{first_error_, first_signal_, reason_};
  if (r.reason == "Killed" && r.exit_code == 0) r.exit_code = 143;
  return r;
}

}  // namespace loom::worker
