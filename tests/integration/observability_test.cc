// Observability against a real `loom up`: promtool checks the metrics loomd and a worker serve, a
// real Prometheus server scrapes them and answers a query for loom_gpus, and headless Chromium
// renders the dashboard's pages (DOM assertions, and a screenshot of each page kept under
// build/test-artifacts/dashboard/). Each test skips with a message when its tool is not installed
// (scripts/install-deps.sh installs them). Everything runs on loopback, bounded in time, and
// every process started here is killed at the end.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "common/http/http_server.h"
#include "common/paths.h"
#include "common/process.h"
#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {

// A reply's body, or empty when there was none (the polls below retry).
std::string Body(const StatusOr<std::string>& reply) { return reply.ok() ? *reply : std::string(); }

bool Installed(const std::string& program) { return FindProgram(program).ok(); }

template <typename F>
bool Poll(F done, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// Runs a shell command (bounded by `timeout`), returning its stdout and exit code.
CommandResult Shell(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) r.out.append(buf, n);
  r.exit_code = ExitCode(pclose(p));
  return r;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A process that is stopped (SIGTERM, then SIGKILL after `grace`) when this goes out of scope.
class Child {
 public:
  explicit Child(SpawnSpec spec) {
    auto pid = Spawn(spec);
    if (pid.ok()) pid_ = *pid;
  }
  ~Child() { Stop(SIGTERM); }
  pid_t pid() const { return pid_; }
  void Stop(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    bool gone = Poll([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, std::chrono::seconds(10));
    if (!gone) {
      kill(-pid_, SIGKILL);  // its process group
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = 0;
  }

 private:
  pid_t pid_ = 0;
};

// `loom up --workers 2 --gpus-per-worker 2` in a fresh LOOM_HOME, stopped with Ctrl-C's signal.
class LoomUp {
 public:
  LoomUp() : home_(std::filesystem::temp_directory_path() / ("loom-obs-" + std::to_string(getpid()))) {
    std::filesystem::remove_all(home_);
    std::filesystem::create_directories(home_);
    SpawnSpec spec;
    spec.argv = {std::string(LOOM_BIN_DIR) + "/loom", "up", "--workers", "2", "--gpus-per-worker", "2",
                 "--heartbeat-ms", "200", "--node-timeout-ms", "2000"};
    spec.env = CurrentEnvironment();
    spec.env["LOOM_HOME"] = home_;
    spec.stdout_path = home_ + "/up.out";
    spec.stderr_path = home_ + "/up.out";
    up_ = std::make_unique<Child>(spec);
  }
  ~LoomUp() {
    up_->Stop(SIGINT);
    std::filesystem::remove_all(home_);
  }
  // Waits for loom up to say it is up; the dashboard's URL, or empty.
  std::string WaitUp() {
    Poll([&] { return ReadFile(home_ + "/up.out").find("Dashboard: ") != std::string::npos; }, std::chrono::seconds(60));
    std::smatch m;
    std::string out = ReadFile(home_ + "/up.out");
    if (!std::regex_search(out, m, std::regex("Dashboard: (http://[0-9.:]+)/"))) return "";
    return m[1];
  }
  CommandResult Loom(const std::string& args) {
    return Shell("LOOM_HOME=" + home_ + " timeout 30 " + std::string(LOOM_BIN_DIR) + "/loom " + args);
  }
  std::string WorkerUrl(int i) {
    std::string url = ReadFile(home_ + "/nodes/node-" + std::to_string(i + 1) + "/worker.http");
    return url.substr(0, url.find('\n'));
  }
  const std::string& home() const { return home_; }
  std::string log() { return ReadFile(home_ + "/up.out"); }
  // The admin token `loom up` made: what the dashboard and its API ask for.
  std::string Token() {
    std::string t = ReadFile(home_ + "/token");
    return t.substr(0, t.find('\n'));
  }

 private:
  std::string home_;
  std::unique_ptr<Child> up_;
};

std::string HostPort(const std::string& url) { return url.substr(std::string("http://").size()); }

TEST(Observability, PromtoolAcceptsLoomdAndWorkerMetrics) {
  if (!Installed("promtool")) GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  LoomUp up;
  std::string url = up.WaitUp();
  ASSERT_FALSE(url.empty()) << up.log();
  ASSERT_EQ(up.Loom("submit --gpus 2 --name metrics-job -- sleep 20").exit_code, 0);
  ASSERT_TRUE(Poll([&] { return Body(http::Get(url + "/metrics")).find("loom_jobs{state=\"running\"") != std::string::npos; },
                   std::chrono::seconds(30)));
  for (const std::string& target : {url, up.WorkerUrl(0)}) {
    auto text = http::Get(target + "/metrics");
    ASSERT_TRUE(text.ok()) << target << ": " << text.status().message();
    std::string file = up.home() + "/scrape.txt";
    std::ofstream(file) << *text;
    CommandResult check = Shell("timeout 30 promtool check metrics < " + file);
    EXPECT_EQ(check.exit_code, 0) << target << ":\n" << check.out;
  }
  std::string loomd = *http::Get(url + "/metrics");
  EXPECT_NE(loomd.find("loom_gpus{state=\"allocated\"} 2\n"), std::string::npos) << loomd;
  EXPECT_NE(loomd.find("loom_rpc_requests_total{method=\"Submit\",code=\"OK\"} 1\n"), std::string::npos);
  EXPECT_NE(loomd.find("loom_scheduling_pass_duration_seconds_count"), std::string::npos);
  std::string worker = *http::Get(up.WorkerUrl(0) + "/metrics");
  EXPECT_NE(worker.find("loom_gpu_memory_total_bytes{node=\"node-1\",gpu=\"1\""), std::string::npos) << worker;

  // submit --wait prints the job's state changes, then its end.
  CommandResult wait = up.Loom("submit --wait --gpus 2 --name waiter -- sleep 1");
  EXPECT_EQ(wait.exit_code, 0) << wait.out;
  EXPECT_TRUE(std::regex_search(wait.out, std::regex("Job \\d+ RUNNING on node-\\d"))) << wait.out;
  EXPECT_TRUE(std::regex_search(wait.out, std::regex("Job \\d+ COMPLETED\n"))) << wait.out;
}

TEST(Observability, PrometheusScrapesLoomUpAndAnswersForLoomGpus) {
  if (!Installed("prometheus")) GTEST_SKIP() << "prometheus not installed (apt-get install prometheus)";
  LoomUp up;
  std::string url = up.WaitUp();
  ASSERT_FALSE(url.empty()) << up.log();
  const std::string dir = up.home() + "/prometheus";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: loomd\n    static_configs:\n      - targets: ['" << HostPort(url) << "']\n"
      << "  - job_name: loom-worker\n    static_configs:\n      - targets: ['" << HostPort(up.WorkerUrl(0)) << "', '"
      << HostPort(up.WorkerUrl(1)) << "']\n";
  const std::string listen = "127.0.0.1:" + std::to_string(FreePort());
  SpawnSpec spec;
  spec.argv = {"prometheus", "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
               "--web.listen-address=" + listen, "--storage.tsdb.retention.time=1h"};
  spec.env = CurrentEnvironment();
  spec.stdout_path = dir + "/log";
  spec.stderr_path = dir + "/log";
  Child prometheus(spec);
  ASSERT_GT(prometheus.pid(), 0);
  // The query: the cluster's GPUs that are up, as Prometheus scraped them from loomd.
  const std::string query = "http://" + listen + "/api/v1/query?query=loom_gpus%7Bstate%3D%22up%22%7D";
  std::string answer;
  bool got = Poll([&] {
    answer = Body(http::Get(query, 2));
    return answer.find("\"value\":[") != std::string::npos;
  }, std::chrono::seconds(90));
  ASSERT_TRUE(got) << answer << "\n" << ReadFile(dir + "/log");
  EXPECT_NE(answer.find("\"__name__\":\"loom_gpus\""), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"job\":\"loomd\""), std::string::npos) << answer;
  EXPECT_NE(answer.find(",\"4\"]"), std::string::npos) << answer;  // 2 workers x 2 GPUs
  // And the workers' per-GPU series, one per GPU.
  const std::string per_gpu = "http://" + listen + "/api/v1/query?query=count(loom_gpu_memory_total_bytes)";
  ASSERT_TRUE(Poll([&] { return Body(http::Get(per_gpu, 2)).find(",\"4\"]") != std::string::npos; },
                   std::chrono::seconds(30))) << Body(http::Get(per_gpu, 2));
}

// `page` ("/#/queue") through the dashboard's log-in link, which sets the token's cookie and
// sends the browser on: each Chromium run below starts with an empty profile.
std::string LoggedIn(const std::string& url, const std::string& token, const std::string& page) {
  std::string next;
  for (char c : page) next += c == '/' ? "%2F" : c == '#' ? "%23" : std::string(1, c);
  return url + "/login?token=" + token + "&next=" + next;
}

// Chromium loads `url`, runs its scripts for a few seconds of virtual time, and prints the DOM;
// a screenshot goes to `png`.
std::string RenderPage(const std::string& url, const std::string& png, const std::string& profile) {
  const std::string flags =
      "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --virtual-time-budget=4000 --window-size=1200,900 ";
  Shell("timeout 90 chromium " + flags + "--user-data-dir=" + profile + "-shot --screenshot=" + png + " '" + url + "'");
  return Shell("timeout 90 chromium " + flags + "--user-data-dir=" + profile + "-dom --dump-dom '" + url + "'").out;
}

int PointsOf(const std::string& dom, const std::string& title) {
  std::smatch m;
  std::regex re("data-title=\"" + title + "\"[^>]*data-points=\"(\\d+)\"");
  return std::regex_search(dom, m, re) ? std::stoi(m[1]) : -1;
}

TEST(Observability, DashboardPagesRenderInChromium) {
  if (!Installed("chromium")) GTEST_SKIP() << "chromium not installed (apt-get install chromium)";
  LoomUp up;
  std::string url = up.WaitUp();
  ASSERT_FALSE(url.empty()) << up.log();
  // One whole node, so the training job starts at once on the other (a gang across both nodes
  // would hold both whole, and the test waited out its 60 s before any step came: too long on a
  // loaded machine); it outlasts the renders and is cancelled at the end.
  CommandResult running = up.Loom("submit --gpus 2 --name dash-running -- sleep 600");
  ASSERT_EQ(running.exit_code, 0) << running.out;
  std::smatch r;
  ASSERT_TRUE(std::regex_search(running.out, r, std::regex("Submitted job (\\d+)")));
  const std::string running_id = r[1];
  // A training job whose rank 0 reports steps, for the job page's charts.
  CommandResult train = up.Loom("submit --mpi --gpus 1 --name dash-train --time 5m -- " + std::string(LOOM_TRAIN) +
                                " --layers 2 --hidden 128 --heads 4 --seq 64 --vocab 1024 --micro-batch 2 --steps 100000");
  ASSERT_EQ(train.exit_code, 0) << train.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(train.out, m, std::regex("Submitted job (\\d+)")));
  const std::string train_id = m[1];
  // Behind the two, it cannot fit: it waits for Resources.
  ASSERT_EQ(up.Loom("submit --gpus 4 --name dash-waiting -- sleep 1").exit_code, 0);
  // The sampler records the job's figures every 2 s once steps arrive.
  ASSERT_TRUE(Poll([&] {
    std::string j = Body(http::Get(url + "/api/jobs/" + train_id, 10, up.Token()));
    return j.find("\"samples\":[{") != std::string::npos && j.find("},{\"mfu\"") != std::string::npos;
  }, std::chrono::seconds(90))) << Body(http::Get(url + "/api/jobs/" + train_id, 10, up.Token()));
  // Behind the token: without it the API refuses and a page shows the log-in form.
  EXPECT_EQ(http::Get(url + "/api/queue").status().code(), StatusCode::kInternal);  // HTTP 401
  EXPECT_NE(RenderPage(url + "/#/queue", up.home() + "/login.png", up.home() + "/chromium-anon").find("data-page=\"login\""),
            std::string::npos);

  const std::string shots = std::string(LOOM_ARTIFACT_DIR) + "/dashboard";
  std::filesystem::create_directories(shots);
  const std::string profile = up.home() + "/chromium";

  std::string queue = RenderPage(LoggedIn(url, up.Token(), "/#/queue"), shots + "/queue.png", profile + "-queue");
  EXPECT_NE(queue.find("data-page=\"queue\""), std::string::npos) << queue.substr(0, 2000);
  EXPECT_NE(queue.find("dash-running"), std::string::npos);
  EXPECT_NE(queue.find("dash-train"), std::string::npos);
  EXPECT_NE(queue.find("(Resources)"), std::string::npos);  // dash-waiting's reason

  std::string cluster = RenderPage(LoggedIn(url, up.Token(), "/#/cluster"), shots + "/cluster.png", profile + "-cluster");
  EXPECT_NE(cluster.find("node-1"), std::string::npos) << cluster.substr(0, 2000);
  EXPECT_NE(cluster.find("leaf"), std::string::npos);
  EXPECT_NE(cluster.find("class=\"gpu alloc\""), std::string::npos);

  std::string job = RenderPage(LoggedIn(url, up.Token(), "/#/job/" + train_id), shots + "/job.png", profile + "-job");
  EXPECT_NE(job.find("dash-train"), std::string::npos) << job.substr(0, 2000);
  EXPECT_NE(job.find("id=\"attempts\""), std::string::npos);
  EXPECT_GE(PointsOf(job, "Step time \\(s\\)"), 2) << job.substr(0, 4000);
  EXPECT_GE(PointsOf(job, "MFU \\(sampled\\)"), 2);

  std::string eff = RenderPage(LoggedIn(url, up.Token(), "/#/efficiency"), shots + "/efficiency.png", profile + "-eff");
  EXPECT_GE(PointsOf(eff, "Cluster, last hour"), 1) << eff.substr(0, 2000);
  EXPECT_NE(eff.find("id=\"tenants\""), std::string::npos);

  for (const char* page : {"queue", "cluster", "job", "efficiency"}) {
    EXPECT_GT(std::filesystem::file_size(shots + "/" + page + ".png"), 1000u) << page;
  }
  up.Loom("cancel " + train_id);
  up.Loom("cancel " + running_id);
}

}  // namespace
}  // namespace loom::testing
