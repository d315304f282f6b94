// A rank that dies inside a shared-memory all-reduce must not hang the others: runs
// shm_peer_death_ranks under mpirun (loopback, --enable-recovery so that mpirun keeps the
// survivors alive instead of killing the job, as it does by default) and checks that every
// survivor returned UNAVAILABLE naming the dead rank, within a bound. mpirun runs against a
// deadline and is always stopped, with its ranks, whatever the outcome.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/process.h"

namespace loom::comm {
namespace {

// mpirun's children (the ranks: Open MPI gives each its own process group, so killing mpirun's
// group would miss them).
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> kids;
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  for (pid_t k; in >> k;) kids.push_back(k);
  return kids;
}

// Owns a running mpirun: the destructor stops it and its ranks if it has not exited.
class MpirunProcess {
 public:
  explicit MpirunProcess(pid_t pid) : pid_(pid) {}
  ~MpirunProcess() {
    if (exited_) return;
    const std::vector<pid_t> ranks = ChildrenOf(pid_);
    kill(pid_, SIGTERM);  // mpirun then kills its ranks itself
    if (!WaitFor(std::chrono::seconds(5))) {
      for (pid_t r : ranks) kill(r, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Polls for mpirun's exit until `limit`; true if it exited.
  bool WaitFor(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exited_) {
      const pid_t r = waitpid(pid_, nullptr, WNOHANG);
      if (r == pid_ || (r == -1 && errno == ECHILD)) exited_ = true;
      else if (std::chrono::steady_clock::now() >= deadline) return false;
      else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  pid_t pid_;
  bool exited_ = false;
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ';');) out.push_back(item);
  return out;
}

struct DeathCase {
  int ranks;
  const char* how;  // "exit", "kill" or "fail", as shm_peer_death_ranks takes it
};
void PrintTo(const DeathCase& c, std::ostream* os) { *os << c.ranks << " ranks, " << c.how; }

class ShmPeerDeathTest : public ::testing::TestWithParam<DeathCase> {};

// "fail" cases: the last rank leaves with an error, alive; the others must stop too, through the
// segment's abort word (their peer's pid is alive, so only the word can tell them).
TEST_P(ShmPeerDeathTest, SurvivorsReturnAnErrorNamingTheRank) {
  const DeathCase c = GetParam();
  char out_path[] = "/tmp/loom-shm-peer-death-XXXXXX";
  const int fd = mkstemp(out_path);
  ASSERT_NE(fd, -1);
  close(fd);

  SpawnSpec spec;
  spec.argv = SplitList(LOOM_TEST_MPIRUN);
  for (const char* a : {"--enable-recovery", "-np"}) spec.argv.push_back(a);
  spec.argv.push_back(std::to_string(c.ranks));
  spec.argv.push_back(LOOM_PEER_DEATH_RANKS);
  spec.argv.push_back(c.how);
  spec.env = CurrentEnvironment();
  spec.stdout_path = out_path;
  spec.stderr_path = out_path;
  StatusOr<pid_t> pid = Spawn(spec);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  {
    MpirunProcess mpirun(*pid);
    // mpirun's own start and teardown take a second or two; oversubscribed CI, a few more.
    EXPECT_TRUE(mpirun.WaitFor(std::chrono::seconds(60)))
        << "mpirun still running after 60 s: a survivor is stuck in the all-reduce";
  }
  std::ifstream in(out_path);
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unlink(out_path);

  // Every survivor (all ranks but the last) reports once; the bound is generous for a loaded
  // 2-core machine, the check interval being 10 ms (a survivor usually reports in 10-20 ms).
  const int victim = c.ranks - 1;
  const std::regex line(R"(survivor (\d+): after ([0-9.]+) ms: ([^\n]*))");
  std::vector<bool> seen(c.ranks, false);
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator();
       ++it) {
    const int r = std::stoi((*it)[1]);
    const double ms = std::stod((*it)[2]);
    const std::string status = (*it)[3];
    ASSERT_TRUE(r >= 0 && r < victim) << out;
    seen[r] = true;
    EXPECT_LT(ms, 5000.0) << "survivor " << r;
    EXPECT_NE(status.find("UNAVAILABLE"), std::string::npos) << status;
    EXPECT_NE(status.find("rank " + std::to_string(victim) + " (local rank"), std::string::npos)
        << status;
    const bool died = std::string(c.how) != "fail";
    EXPECT_NE(status.find(died ? "died during the collective" : "failed in it"), std::string::npos)
        << status;
  }
  // A victim that failed without dying returns its own error, not the others'.
  if (std::string(c.how) == "fail") {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(victim \d+: after [0-9.]+ ms: ([^\n]*))")))
        << out;
    EXPECT_NE(m[1].str().find("injected cross-node failure"), std::string::npos) << m[1];
  }
  for (int r = 0; r < victim; ++r) EXPECT_TRUE(seen[r]) << "no report from survivor " << r << ":\n" << out;
}

// The prefix keeps "comm" in the ctest names, as for the other tests of this library.
INSTANTIATE_TEST_SUITE_P(comm_shm, ShmPeerDeathTest,
                         ::testing::Values(DeathCase{2, "exit"}, DeathCase{2, "kill"},
                                           DeathCase{3, "kill"}, DeathCase{4, "exit"},
                                           DeathCase{4, "kill"}, DeathCase{2, "fail"},
                                           DeathCase{3, "fail"}),
                         [](const auto& info) {
                           return "np" + std::to_string(info.param.ranks) + "_" + info.param.how;
                         });

}  // namespace
}  // namespace loom::comm
