#include "kernels/comm/rendezvous.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>
#include <vector>

namespace loom::comm {
namespace {

// A port nothing listens on right now (bind to 0, read it back, close).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

TEST(TcpBroadcast, EveryRankGetsRankZerosBlob) {
  constexpr int kWorld = 5;
  const int port = FreePort();
  std::vector<std::string> got(kWorld);
  std::vector<Status> status(kWorld);
  std::vector<std::thread> ranks;
  // Non-zero ranks start first: they must retry until rank 0 listens.
  for (int r = kWorld - 1; r >= 0; --r) {
    ranks.emplace_back([&, r] {
      RendezvousEnv env{r, kWorld, r, "127.0.0.1", port};
      got[r] = r == 0 ? std::string("\x00id-with-a-nul\xff", 15) : "";
      status[r] = TcpBroadcast(env, &got[r], std::chrono::seconds(20));
    });
    if (r == kWorld - 1) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& t : ranks) t.join();
  for (int r = 0; r < kWorld; ++r) {
    EXPECT_TRUE(status[r].ok()) << "rank " << r << ": " << status[r].ToString();
    EXPECT_EQ(got[r], got[0]) << "rank " << r;
  }
  EXPECT_EQ(got[0].size(), 15u);  // the NUL travelled too
}

TEST(TcpBroadcast, GivesUpWhenRankZeroNeverComes) {
  RendezvousEnv env{1, 2, 1, "127.0.0.1", FreePort()};
  std::string blob;
  const Status s = TcpBroadcast(env, &blob, std::chrono::milliseconds(200));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
}

TEST(TcpBroadcast, RankZeroGivesUpWhenPeersNeverCome) {
  RendezvousEnv env{0, 3, 0, "127.0.0.1", FreePort()};
  std::string blob = "id";
  const Status s = TcpBroadcast(env, &blob, std::chrono::milliseconds(200));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
}

TEST(RendezvousEnv, ReadsTheVariablesLoomSets) {
  setenv("RANK", "3", 1);
  setenv("WORLD_SIZE", "8", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "node-0", 1);
  setenv("MASTER_PORT", "29500", 1);
  StatusOr<RendezvousEnv> env = RendezvousEnvFromEnvironment();
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 8);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "node-0");
  EXPECT_EQ(env->master_port, 29500);

  setenv("RANK", "8", 1);  // not below WORLD_SIZE
  EXPECT_EQ(RendezvousEnvFromEnvironment().status().code(), StatusCode::kInvalidArgument);
  setenv("RANK", "x1", 1);
  EXPECT_EQ(RendezvousEnvFromEnvironment().status().code(), StatusCode::kInvalidArgument);
  unsetenv("RANK");
  const Status missing = RendezvousEnvFromEnvironment().status();
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.message().find("RANK"), std::string::npos);
}

}  // namespace
}  // namespace loom::comm
