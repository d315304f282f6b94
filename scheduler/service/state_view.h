// ControlPlane's Views for the lifecycle (internal to scheduler/service): its maps and core as
// the lifecycle reads them, valid while mu_ is held.
#pragma once

#include "scheduler/service/control_plane.h"

namespace loom {

// The lifecycle's view of loomd's maps and core; valid while mu_ is held.
class ControlPlane::StateView final : public lifecycle::View {
 public:
  explicit StateView(const ControlPlane& cp) : cp_(cp) {}
  const v1::Job* job(int64_t id) const override {
    auto it = cp_.jobs_.find(id);
    return it == cp_.jobs_.end() ? nullptr : &it->second;
  }
  const v1::Node* node(const std::string& name) const override {
    auto it = cp_.nodes_.find(name);
    return it == cp_.nodes_.end() ? nullptr : &it->second.node;
  }
  std::vector<int64_t> JobsOn(const std::string& name) const override {
    auto index = cp_.core_->cluster().Find(name);
    return index ? cp_.core_->cluster().JobsOn(*index) : std::vector<int64_t>{};
  }
  bool Placeable(const std::string& name) const override {
    auto index = cp_.core_->cluster().Find(name);
    return index && cp_.core_->cluster().node(*index).up;
  }
  std::vector<int64_t> ArrayTasks(int64_t array) const override {
    auto it = cp_.arrays_.find(array);
    return it == cp_.arrays_.end() ? std::vector<int64_t>{} : it->second;
  }
  std::vector<int64_t> Waiting() const override { return {cp_.waiting_.begin(), cp_.waiting_.end()}; }
  std::vector<int64_t> Named(const std::string& tenant, const std::string& name) const override {
    auto it = cp_.named_.find({tenant, name});
    return it == cp_.named_.end() ? std::vector<int64_t>{} : std::vector<int64_t>(it->second.begin(), it->second.end());
  }

 private:
  const ControlPlane& cp_;
};

// StateView plus rows only the store still has (finished jobs a new dependency names).
class ControlPlane::ExtraRowsView final : public lifecycle::View {
 public:
  ExtraRowsView(const StateView& base, const std::map<int64_t, v1::Job>& extra) : base_(base), extra_(extra) {}
  const v1::Job* job(int64_t id) const override {
    auto it = extra_.find(id);
    return it != extra_.end() ? &it->second : base_.job(id);
  }
  const v1::Node* node(const std::string& name) const override { return base_.node(name); }
  std::vector<int64_t> JobsOn(const std::string& name) const override { return base_.JobsOn(name); }
  bool Placeable(const std::string& name) const override { return base_.Placeable(name); }
  // An array that left memory: the task rows ResolveDependencies loaded from the store.
  std::vector<int64_t> ArrayTasks(int64_t array) const override {
    std::vector<int64_t> ids = base_.ArrayTasks(array);
    if (!ids.empty()) return ids;
    for (const auto& [id, job] : extra_) {
      if (job.array().array_job_id() == array) ids.push_back(id);
    }
    return ids;
  }
  std::vector<int64_t> Waiting() const override { return base_.Waiting(); }
  std::vector<int64_t> Named(const std::string& tenant, const std::string& name) const override {
    return base_.Named(tenant, name);
  }

 private:
  const StateView& base_;
  const std::map<int64_t, v1::Job>& extra_;
};

}  // namespace loom
