// Stores for tests and loom-sim: MemoryStore keeps the rows in maps (what a commit writes, a
// reopened ControlPlane reads back); FailingStore wraps another store and fails its commits on
// command, so every commit-failure path of the control plane can be tested.
//
// Thread safety: as Store, one caller at a time.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "scheduler/store/store.h"

namespace loom::store {

class MemoryStore final : public Store {
 public:
  Status Commit(const Batch& batch) override;
  StatusOr<std::vector<v1::Job>> LoadJobs() override;
  StatusOr<std::vector<v1::Node>> LoadNodes() override;
  StatusOr<std::vector<v1::Job>> LoadJobsPage(int64_t after_id, int limit, const JobFilter& filter) override;
  StatusOr<std::vector<Event>> LoadEvents(int64_t job_id) override;
  StatusOr<int64_t> MaxJobId() override;
  StatusOr<std::vector<FairShareUsage>> LoadFairShareUsage() override;
  StatusOr<std::vector<acct::UsageBucket>> LoadUsage(int64_t from, int64_t to) override;
  StatusOr<std::vector<acct::StepBucket>> LoadSteps(int64_t from, int64_t to, int64_t job_id) override;
  Status RollUp(int64_t, const RollUpPolicy&) override { return Status::Ok(); }  // keeps all

  int commits() const { return commits_; }

 private:
  std::map<int64_t, v1::Job> jobs_;
  std::map<std::string, v1::Node> nodes_;
  std::vector<Event> events_;
  std::map<std::string, FairShareUsage> fair_share_;
  std::map<int64_t, acct::UsageBucket> usage_;
  std::map<std::tuple<int64_t, int, int64_t>, acct::StepBucket> steps_;
  int commits_ = 0;
};

class FailingStore final : public Store {
 public:
  // Does not own `inner`, which must outlive it (a test keeps it to reopen from).
  explicit FailingStore(Store* inner) : inner_(inner) {}

  // The next `n` commits fail with INTERNAL (and write nothing); -1: every commit until changed.
  void FailCommits(int n) { fail_ = n; }
  int failed() const { return failed_; }   // commits refused so far

  Status Commit(const Batch& batch) override;
  StatusOr<std::vector<v1::Job>> LoadJobs() override { return inner_->LoadJobs(); }
  StatusOr<std::vector<v1::Node>> LoadNodes() override { return inner_->LoadNodes(); }
  StatusOr<std::vector<v1::Job>> LoadJobsPage(int64_t after_id, int limit, const JobFilter& filter) override {
    return inner_->LoadJobsPage(after_id, limit, filter);
  }
  StatusOr<std::vector<Event>> LoadEvents(int64_t job_id) override { return inner_->LoadEvents(job_id); }
  StatusOr<int64_t> MaxJobId() override { return inner_->MaxJobId(); }
  StatusOr<std::vector<FairShareUsage>> LoadFairShareUsage() override {
    return inner_->LoadFairShareUsage();
  }
  StatusOr<std::vector<acct::UsageBucket>> LoadUsage(int64_t from, int64_t to) override {
    return inner_->LoadUsage(from, to);
  }
  StatusOr<std::vector<acct::StepBucket>> LoadSteps(int64_t from, int64_t to, int64_t job_id) override {
    return inner_->LoadSteps(from, to, job_id);
  }
  Status RollUp(int64_t now, const RollUpPolicy& policy) override { return inner_->RollUp(now, policy); }

 private:
  Store* inner_;
  int fail_ = 0;
  int failed_ = 0;
};

}  // namespace loom::store
