#include "worker/health.h"

#include <algorithm>
#include <sstream>

namespace loom::worker {
namespace {
constexpr size_t kMaxReason = 200;

std::string FirstLine(const std::string& output) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const auto start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos) continue;
    line = line.substr(start);
    line.erase(line.find_last_not_of(" \t\r") + 1);
    return line.substr(0, kMaxReason);
  }
  return "";
}
}  // namespace

v1::NodeHealth HealthFromCheck(int exit_code, bool timed_out, const std::string& output) {
  v1::NodeHealth h;
  if (!timed_out && exit_code == 0) return h;
  h.set_failing(true);
  std::string reason = FirstLine(output);
  if (timed_out) {
    reason = "health check timed out" + (reason.empty() ? "" : ": " + reason);
  } else if (reason.empty()) {
    reason = "health check exited " + std::to_string(exit_code);
  }
  h.set_reason(reason);
  return h;
}

v1::NodeHealth NvmlHealth(const NvmlHealthApi& api, int count) {
  v1::NodeHealth h;
  for (int i = 0; i < count; ++i) {
    void* device = nullptr;
    const int rc = api.handle(static_cast<unsigned>(i), &device);
    if (rc == kNvmlGpuIsLost) {
      h.set_failing(true);
      h.set_reason("GPU " + std::to_string(i) + " is lost (NVML)");
      return h;
    }
    if (rc != kNvmlSuccess || !api.uncorrected_ecc) continue;
    unsigned long long errors = 0;
    const int ecc = api.uncorrected_ecc(device, &errors);
    if (ecc == kNvmlGpuIsLost) {
      h.set_failing(true);
      h.set_reason("GPU " + std::to_string(i) + " is lost (NVML)");
      return h;
    }
    if (ecc == kNvmlSuccess && errors > 0) {
      h.set_failing(true);
      h.set_reason("GPU " + std::to_string(i) + " has " + std::to_string(errors) + " uncorrectable ECC error(s) (NVML)");
      return h;
    }
  }
  return h;
}

HealthMonitor::HealthMonitor(std::string command, std::chrono::milliseconds interval, CheckRunner run,
                             std::function<v1::NodeHealth()> nvml)
    : command_(std::move(command)), interval_(interval), run_(std::move(run)), nvml_(std::move(nvml)) {}

HealthMonitor::~HealthMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

v1::NodeHealth HealthMonitor::CheckOnce() {
  // The program's verdict first (it names the operator's reason); NVML's when it passes.
  if (!command_.empty()) {
    const std::chrono::milliseconds bound = std::min<std::chrono::milliseconds>(interval_, std::chrono::minutes(1));
    CheckRun r = run_(command_, bound);
    v1::NodeHealth h = HealthFromCheck(r.exit_code, r.timed_out, r.output);
    if (h.failing()) return h;
  }
  return nvml_ ? nvml_() : v1::NodeHealth();
}

void HealthMonitor::Start() {
  v1::NodeHealth first = CheckOnce();
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = first;
  }
  if (command_.empty() && !nvml_) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval_, [&] { return stop_; })) {
      lock.unlock();
      v1::NodeHealth h = CheckOnce();
      lock.lock();
      current_ = std::move(h);
    }
  });
}

v1::NodeHealth HealthMonitor::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

}  // namespace loom::worker
