// Health checks: the verdict of a program's run, NVML's verdict through a fake table, real runs
// with a time bound, and the monitor combining them.
#include "worker/health.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>

#include "worker/job_runner.h"

namespace loom::worker {
namespace {

TEST(HealthFromCheckTest, ExitZeroIsHealthyElseTheFirstLineIsTheReason) {
  EXPECT_FALSE(HealthFromCheck(0, false, "all good\n").failing());
  v1::NodeHealth h = HealthFromCheck(1, false, "\n  /scratch is 99% full  \nmore detail\n");
  EXPECT_TRUE(h.failing());
  EXPECT_EQ(h.reason(), "/scratch is 99% full");
  EXPECT_EQ(HealthFromCheck(3, false, "").reason(), "health check exited 3");
  h = HealthFromCheck(0, true, "checking nvlink\n");
  EXPECT_TRUE(h.failing());
  EXPECT_EQ(h.reason(), "health check timed out: checking nvlink");
  EXPECT_EQ(HealthFromCheck(1, false, std::string(1000, 'x')).reason().size(), 200u);
}

// A fake NVML: per GPU, the handle's return code and the uncorrected ECC count (or its error).
struct FakeNvml {
  std::map<unsigned, int> handle_rc;
  std::map<unsigned, std::pair<int, unsigned long long>> ecc;
  NvmlHealthApi Api() {
    NvmlHealthApi api;
    api.handle = [this](unsigned i, void** device) {
      *device = reinterpret_cast<void*>(static_cast<uintptr_t>(i + 1));
      return handle_rc.count(i) ? handle_rc[i] : kNvmlSuccess;
    };
    api.uncorrected_ecc = [this](void* device, unsigned long long* n) {
      const unsigned i = static_cast<unsigned>(reinterpret_cast<uintptr_t>(device) - 1);
      auto [rc, count] = ecc.count(i) ? ecc[i] : std::pair<int, unsigned long long>{kNvmlSuccess, 0};
      *n = count;
      return rc;
    };
    return api;
  }
};

TEST(NvmlHealthTest, LostGpuAndUncorrectableEccFailTheNode) {
  FakeNvml nvml;
  EXPECT_FALSE(NvmlHealth(nvml.Api(), 8).failing());
  nvml.ecc[1] = {kNvmlNotSupported, 0};  // no ECC on this board: no verdict
  nvml.handle_rc[2] = 999;               // some other NVML error: no verdict either
  EXPECT_FALSE(NvmlHealth(nvml.Api(), 8).failing());
  nvml.ecc[5] = {kNvmlSuccess, 2};
  v1::NodeHealth h = NvmlHealth(nvml.Api(), 8);
  EXPECT_TRUE(h.failing());
  EXPECT_EQ(h.reason(), "GPU 5 has 2 uncorrectable ECC error(s) (NVML)");
  nvml.handle_rc[3] = kNvmlGpuIsLost;
  EXPECT_EQ(NvmlHealth(nvml.Api(), 8).reason(), "GPU 3 is lost (NVML)");
  EXPECT_FALSE(NvmlHealth(nvml.Api(), 3).failing());  // GPUs past count are not asked
  NvmlHealthApi no_ecc = nvml.Api();
  no_ecc.uncorrected_ecc = nullptr;
  nvml.handle_rc.clear();
  EXPECT_FALSE(NvmlHealth(no_ecc, 8).failing());
}

class RunCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-health-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    RunnerOptions o;
    o.state_dir = dir_;
    runner_ = std::make_unique<JobRunner>(o, [](const JobExit&) {});
  }
  void TearDown() override {
    runner_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<JobRunner> runner_;
};

TEST_F(RunCommandTest, OutputAndExitCodeOfARealRun) {
  CheckRun r = runner_->RunCommand("echo 'GPU 3 fell off the bus' >&2; exit 2", std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(HealthFromCheck(r.exit_code, r.timed_out, r.output).reason(), "GPU 3 fell off the bus");
  EXPECT_EQ(runner_->RunCommand("true", std::chrono::seconds(20)).exit_code, 0);
}

TEST_F(RunCommandTest, AHangingCheckIsKilledAtItsBound) {
  CheckRun r = runner_->RunCommand("echo probing; exec sleep 60", std::chrono::milliseconds(300));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(HealthFromCheck(r.exit_code, r.timed_out, r.output).reason(), "health check timed out: probing");
  r = runner_->RunCommand("exec >&- 2>&-; sleep 60", std::chrono::milliseconds(300));  // closes its output first
  EXPECT_TRUE(r.timed_out);
}

TEST(HealthMonitorTest, ProgramVerdictFirstThenNvmlAndItRecovers) {
  std::mutex mu;
  int exit_code = 1;
  CheckRunner fake = [&](const std::string& command, std::chrono::milliseconds) {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(command, "/usr/sbin/nhc");
    return CheckRun{exit_code, false, "NHC: memory check failed\n"};
  };
  v1::NodeHealth nvml_says;
  HealthMonitor monitor("/usr/sbin/nhc", std::chrono::milliseconds(20), fake, [&] {
    std::lock_guard<std::mutex> lock(mu);
    return nvml_says;
  });
  monitor.Start();  // the first verdict is there at once, before Register
  EXPECT_TRUE(monitor.Current().failing());
  EXPECT_EQ(monitor.Current().reason(), "NHC: memory check failed");
  {
    std::lock_guard<std::mutex> lock(mu);
    exit_code = 0;
    nvml_says.set_failing(true);
    nvml_says.set_reason("GPU 0 is lost (NVML)");
  }
  for (int i = 0; i < 1000 && monitor.Current().reason() != "GPU 0 is lost (NVML)"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(monitor.Current().reason(), "GPU 0 is lost (NVML)");
  {
    std::lock_guard<std::mutex> lock(mu);
    nvml_says.Clear();
  }
  for (int i = 0; i < 1000 && monitor.Current().failing(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(monitor.Current().failing());  // a passing check reports healthy (loomd keeps the drain)
}

}  // namespace
}  // namespace loom::worker
