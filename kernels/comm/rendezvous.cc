#include "kernels/comm/rendezvous.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "kernels/comm/check.h"

namespace loom::comm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kMagic = 0x4C4F4F4D;  // "LOOM": rejects a stray client or server on the port

class Fd {  // closes on scope exit
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

StatusOr<int> EnvInt(const char* name, bool required, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    if (required) return InvalidArgument(std::string(name) + " is not set");
    return fallback;
  }
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 30) {
    return InvalidArgument(std::string(name) + "='" + v + "' is not a non-negative integer");
  }
  return static_cast<int>(x);
}

Status WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    LOOM_SYS_CHECK(w < 0 ? -1 : 0);
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    LOOM_SYS_CHECK(r < 0 ? -1 : 0);
    if (r == 0) return Unavailable("rendezvous peer closed the connection early");
    p += r;
    n -= static_cast<size_t>(r);
  }
  return Status::Ok();
}

// Message: magic, length, bytes.
Status SendBlob(int fd, const std::string& blob) {
  const uint32_t header[2] = {htonl(kMagic), htonl(static_cast<uint32_t>(blob.size()))};
  LOOM_RETURN_IF_ERROR(WriteAll(fd, header, sizeof header));
  return WriteAll(fd, blob.data(), blob.size());
}

Status ReceiveBlob(int fd, std::string* blob) {
  uint32_t header[2];
  LOOM_RETURN_IF_ERROR(ReadAll(fd, header, sizeof header));
  if (ntohl(header[0]) != kMagic) return Unavailable("rendezvous: not a Loom server on the port");
  blob->resize(ntohl(header[1]));
  return ReadAll(fd, blob->data(), blob->size());
}

int MillisLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

Status Serve(const RendezvousEnv& env, const std::string& blob, Clock::time_point deadline) {
  Fd server(socket(AF_INET6, SOCK_STREAM, 0));  // dual-stack: IPv4 clients arrive mapped
  LOOM_SYS_CHECK(server.get());
  const int one = 1, zero = 0;
  LOOM_SYS_CHECK(setsockopt(server.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
  LOOM_SYS_CHECK(setsockopt(server.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero));
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_any;
  addr.sin6_port = htons(static_cast<uint16_t>(env.master_port));
  LOOM_SYS_CHECK(bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr));
  LOOM_SYS_CHECK(listen(server.get(), 128));
  for (int served = 1; served < env.world_size; ++served) {
    pollfd p{server.get(), POLLIN, 0};
    const int ready = poll(&p, 1, MillisLeft(deadline));
    LOOM_SYS_CHECK(ready);
    if (ready == 0) {
      return Unavailable("rendezvous: " + std::to_string(served - 1) + " of " +
                         std::to_string(env.world_size - 1) + " ranks connected before timeout");
    }
    Fd client(accept(server.get(), nullptr, nullptr));
    LOOM_SYS_CHECK(client.get());
    LOOM_RETURN_IF_ERROR(SendBlob(client.get(), blob));
  }
  return Status::Ok();
}

// One connection attempt to every address MASTER_ADDR resolves to.
StatusOr<int> TryConnect(const RendezvousEnv& env) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(env.master_port);
  const int rc = getaddrinfo(env.master_addr.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) {
    return Unavailable("rendezvous: cannot resolve MASTER_ADDR '" + env.master_addr +
                       "': " + gai_strerror(rc));
  }
  int fd = -1;
  for (addrinfo* a = list; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(list);
  if (fd < 0) return Unavailable("rendezvous: connection refused");
  return fd;
}

}  // namespace

StatusOr<RendezvousEnv> RendezvousEnvFromEnvironment() {
  RendezvousEnv env;
  LOOM_ASSIGN_OR_RETURN(env.rank, EnvInt("RANK", true, 0));
  LOOM_ASSIGN_OR_RETURN(env.world_size, EnvInt("WORLD_SIZE", true, 1));
  LOOM_ASSIGN_OR_RETURN(env.local_rank, EnvInt("LOCAL_RANK", false, env.rank));
  LOOM_ASSIGN_OR_RETURN(env.master_port, EnvInt("MASTER_PORT", env.world_size > 1, 0));
  const char* addr = std::getenv("MASTER_ADDR");
  if (env.world_size > 1 && (addr == nullptr || *addr == '\0')) {
    return InvalidArgument("MASTER_ADDR is not set");
  }
  env.master_addr = addr ? addr : "127.0.0.1";
  if (env.world_size < 1 || env.rank >= env.world_size) {
    return InvalidArgument("RANK=" + std::to_string(env.rank) + " is not below WORLD_SIZE=" +
                           std::to_string(env.world_size));
  }
  if (env.master_port > 65535) return InvalidArgument("MASTER_PORT is above 65535");
  return env;
}

Status TcpBroadcast(const RendezvousEnv& env, std::string* blob,
                    std::chrono::milliseconds timeout) {
  if (env.world_size == 1) return Status::Ok();
  const Clock::time_point deadline = Clock::now() + timeout;
  if (env.rank == 0) return Serve(env, *blob, deadline);
  Status last = Unavailable("rendezvous: timed out");
  while (Clock::now() < deadline) {
    StatusOr<int> fd = TryConnect(env);
    if (fd.ok()) {
      Fd conn(*fd);
      return ReceiveBlob(conn.get(), blob);
    }
    last = fd.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // rank 0 may not listen yet
  }
  return Unavailable(last.message() + " (gave up after " + std::to_string(timeout.count()) +
                     " ms waiting for rank 0 at " + env.master_addr + ":" +
                     std::to_string(env.master_port) + ")");
}

}  // namespace loom::comm
