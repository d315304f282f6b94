#include "bench/cp/loomd_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/paths.h"
#include "common/process.h"

namespace loom::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Waits up to `timeout` for `pid` to exit; true once reaped.
bool WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

StatusOr<ProcUsage> ReadProcUsage(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  auto stat = ReadWholeFile(dir + "/stat");
  if (!stat.ok()) return stat.status();
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are
  // fields 14 and 15.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return Internal("cannot parse " + dir + "/stat");
  std::istringstream in(stat->substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int f = 3; f <= 15 && in >> field; ++f) {
    if (f >= 14) ticks += std::atof(field.c_str());
  }
  ProcUsage usage;
  usage.cpu_s = ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status(dir + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) usage.hwm_kib = std::atoll(line.c_str() + 6);
    if (line.rfind("VmRSS:", 0) == 0) usage.rss_kib = std::atoll(line.c_str() + 6);
  }
  return usage;
}

namespace {
// The fake fleet speaks plaintext gRPC on loopback. A loomd with TLS (every build since the
// security work) then needs --insecure; an older one has no such flag and must not get it.
bool TakesInsecureFlag(const std::string& binary) {
  const std::string command = "'" + binary + "' --help 2>&1";
  FILE* help = popen(command.c_str(), "r");
  if (!help) return false;
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), help)) > 0;) text.append(buf, n);
  pclose(help);
  return text.find("--insecure") != std::string::npos;
}
}  // namespace

StatusOr<std::unique_ptr<LoomdProcess>> LoomdProcess::Start(const std::string& binary,
                                                             const std::vector<std::string>& args) {
  std::unique_ptr<LoomdProcess> p(new LoomdProcess);
  char tmpl[] = "/tmp/loom-bench-cp-XXXXXX";
  if (!mkdtemp(tmpl)) return Internal("cannot create a temporary home under /tmp");
  p->home_ = tmpl;
  SpawnSpec spec;
  spec.argv = {binary, "--home", p->home_, "--listen", "127.0.0.1:0"};
  if (TakesInsecureFlag(binary)) spec.argv.push_back("--insecure");
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = CurrentEnvironment();
  spec.env.erase("LOOM_SERVER");
  spec.env["LOOM_HOME"] = p->home_;
  spec.stdout_path = spec.stderr_path = p->home_ + "/loomd.log";
  auto pid = Spawn(spec);
  if (!pid.ok()) return pid.status();
  p->pid_ = *pid;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (SteadyClock::now() < deadline) {
    if (auto addr = ReadWholeFile(AddressFile(p->home_)); addr.ok() && !addr->empty()) {
      p->address_ = addr->substr(0, addr->find_first_of("\r\n"));
      return p;
    }
    int status = 0;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      return Unavailable(binary + " exited before serving: " + p->LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Unavailable(binary + " did not announce its address within 30 s: " + p->LogTail());
}

std::string LoomdProcess::LogTail() const {
  auto log = ReadWholeFile(home_ + "/loomd.log");
  if (!log.ok()) return "(no log)";
  std::string tail = log->size() > 400 ? log->substr(log->size() - 400) : *log;
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

void LoomdProcess::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    if (!WaitExit(pid_, std::chrono::seconds(10))) {
      kill(pid_, SIGKILL);
      WaitExit(pid_, std::chrono::seconds(10));
    }
    pid_ = -1;
  }
  if (!home_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(home_, ec);
    home_.clear();
  }
}

LoomdProcess::~LoomdProcess() { Stop(); }

}  // namespace loom::bench
