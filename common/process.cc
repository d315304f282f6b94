#include "common/process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

extern char** environ;

namespace loom {
namespace {

void WriteAll(int fd, const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

// Writes all of `data` to `fd`; the error names `what`. (Not in a child: it allocates.)
Status WriteFully(int fd, const std::string& data, const std::string& what) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal("cannot write " + what + ": " + std::strerror(errno));
    p += n;
    left -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) env[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
  }
  return env;
}

StatusOr<std::string> FindProgram(const std::string& program) {
  if (program.empty()) return InvalidArgument("empty command");
  if (program.find('/') != std::string::npos) {
    if (access(program.c_str(), X_OK) != 0) return NotFound("command not found: " + program);
    return program;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return NotFound("command not found: " + program);
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

namespace {
// In the child, before exec: become `spec`'s account for good (groups, then gid, then uid, so
// none can be regained). Async-signal-safe calls only.
bool DropPrivileges(const SpawnSpec& spec) {
  if (!spec.switch_user) return true;
  return setgroups(1, &spec.gid) == 0 && setgid(spec.gid) == 0 && setuid(spec.uid) == 0 &&
         (spec.uid == 0 || setuid(0) != 0);  // regaining root must fail
}
}  // namespace

StatusOr<pid_t> Spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return InvalidArgument("empty command");
  LOOM_ASSIGN_OR_RETURN(std::string program, FindProgram(spec.argv[0]));

  // Everything the child touches is built here, before fork.
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string exec_error = "loom: cannot execute " + program + "\n";
  const std::string chdir_error = "loom: cannot enter " + spec.workdir + "\n";
  const std::string user_error = "loom: cannot switch to uid " + std::to_string(spec.uid) + "\n";
  const mode_t log_mode = spec.switch_user ? 0600 : 0644;
  const pid_t parent = getpid();

  // vfork: the child borrows the parent's memory until exec, so starting it costs the same
  // however large the worker is (fork copied its page tables: copy_page_range was most of a
  // worker's CPU under bench/cluster.sh, one spawn at a time on the Spawner thread). The child
  // below makes only system calls that touch no shared memory. Not when switching user: glibc's
  // setuid signals every thread of the process, which a vfork child would share.
  pid_t pid = spec.switch_user ? fork() : vfork();
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (spec.own_session) {
      setsid();
    } else {
      if (setpgid(0, spec.process_group) != 0) setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(137);  // the parent died before prctl took effect
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the worker blocks signals; ranks must not inherit that
    int out = spec.stdout_fd, err = spec.stderr_fd;
    if (!spec.stdout_path.empty()) out = open(spec.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, log_mode);
    if (!spec.stderr_path.empty()) err = open(spec.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, log_mode);
    if (spec.switch_user) {  // the logs are the account's, readable by it alone
      if (!spec.stdout_path.empty() && out >= 0) fchown(out, spec.uid, spec.gid);
      if (!spec.stderr_path.empty() && err >= 0) fchown(err, spec.uid, spec.gid);
    }
    if (out >= 0) dup2(out, STDOUT_FILENO);
    if (err >= 0) dup2(err, STDERR_FILENO);
    if (spec.stdin_fd >= 0) {
      dup2(spec.stdin_fd, STDIN_FILENO);
    } else {
      int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    }
    // Close everything else (gRPC's sockets and pipes must not leak into jobs).
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    if (!DropPrivileges(spec)) {
      WriteAll(STDERR_FILENO, user_error.c_str());
      _exit(126);
    }
    if (!spec.workdir.empty() && chdir(spec.workdir.c_str()) != 0) {
      WriteAll(STDERR_FILENO, chdir_error.c_str());
      _exit(126);
    }
    execve(program.c_str(), argv.data(), envp.data());
    WriteAll(STDERR_FILENO, exec_error.c_str());
    _exit(127);
  }
  // Set the group from the parent too, so it is in place before anyone signals the group.
  if (!spec.own_session && setpgid(pid, spec.process_group) != 0) setpgid(pid, pid);
  return pid;
}

uint64_t ProcessStartTime(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  auto close = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string state, skip;
  fields >> state;
  if (state == "Z" || state == "X") return 0;
  for (int i = 0; i < 18; ++i) fields >> skip;  // ppid .. itrealvalue (fields 4..21)
  uint64_t start = 0;
  fields >> start;
  return start;
}

std::multimap<pid_t, pid_t> ProcessTree() {
  std::multimap<pid_t, pid_t> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    auto close = stat.rfind(')');  // the command name may hold spaces and parentheses
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t parent = 0;
    if (fields >> state >> parent) children.emplace(parent, static_cast<pid_t>(std::stol(name)));
  }
  return children;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  const auto tree = ProcessTree();
  for (auto [it, end] = tree.equal_range(parent); it != end; ++it) out.push_back(it->second);
  return out;
}

Status WriteFileAtomically(const std::string& path, const std::string& data, bool sync) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Internal("cannot write " + tmp + ": " + std::strerror(errno));
  if (Status s = WriteFully(fd, data, tmp); !s.ok()) {
    close(fd);
    return s;
  }
  const bool synced = !sync || fsync(fd) == 0;
  close(fd);
  if (!synced) return Internal("cannot sync " + tmp + ": " + std::strerror(errno));
  if (rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot rename " + tmp + ": " + std::strerror(errno));
  return Status::Ok();
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::stringstream data;
  data << in.rdbuf();
  return data.str();
}

StatusOr<std::string> ReadAll(int fd) {
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return data;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal(std::string("read: ") + std::strerror(errno));
    }
    data.append(buf, static_cast<size_t>(n));
  }
}

StatusOr<int> MemoryFile(const char* name, const std::string& data) {
  const int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return Internal(std::string("memfd_create: ") + std::strerror(errno));
  if (Status s = WriteFully(fd, data, std::string("memfd ") + name); !s.ok()) {
    close(fd);
    return s;
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    const int err = errno;
    close(fd);
    return Internal(std::string("lseek: ") + std::strerror(err));
  }
  return fd;
}

struct Spawner::Request {
  const SpawnSpec* spec;
  std::optional<StatusOr<pid_t>> result;
};

Spawner::Spawner() : thread_([this] { Loop(); }) {}

Spawner::~Spawner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

StatusOr<pid_t> Spawner::Spawn(const SpawnSpec& spec) {
  Request request{&spec, std::nullopt};
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(&request);
  cv_.notify_all();
  cv_.wait(lock, [&] { return request.result.has_value(); });
  return std::move(*request.result);
}

void Spawner::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    Request* r = queue_.front();
    queue_.pop_front();
    lock.unlock();
    StatusOr<pid_t> result = loom::Spawn(*r->spec);
    lock.lock();
    r->result.emplace(std::move(result));
    cv_.notify_all();
  }
}

}  // namespace loom
