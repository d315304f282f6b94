#include "kernels/comm/shm_allreduce.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/comm/mpi_check.h"
#include "kernels/comm/reduce_kernels.h"

namespace loom::comm {
namespace {

constexpr size_t kNameBytes = 64;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

size_t RoundUp(size_t x, size_t to) { return (x + to - 1) / to * to; }

size_t HeaderBytes(int size, size_t counters, size_t shared) {
  return RoundUp(counters * static_cast<size_t>(size) + shared, 4096);
}

// Whether `pid` has exited. kill(pid, 0) alone still succeeds for a zombie (exited, its parent not
// yet waited for it), which is how a rank looks when its launcher is slow or gone.
bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) == -1) return errno == ESRCH;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "re");
  if (!f) return false;  // no /proc: trust kill
  char state = 0;
  // "pid (comm) state ...": comm may hold spaces and parentheses, so take the last ')'.
  char line[512];
  const size_t n = std::fread(line, 1, sizeof line - 1, f);
  std::fclose(f);
  line[n] = '\0';
  if (const char* close = std::strrchr(line, ')'); close && close[1] == ' ') state = close[2];
  return state == 'Z' || state == 'X';
}

// Messages at least this large are written to the caller's buffer with non-temporal stores: the
// output will not fit in cache anyway, and a normal store first reads the line it overwrites
// (read-for-ownership), a third DRAM transfer per byte on top of reading the input and writing
// the output. Below it, part of the output is still in the 32 MiB L3 when it is next used, and
// streaming it past the cache loses that. Measured on the development VM, 2 ranks, fastest
// iteration (docs/COMM.md): normal stores win at 8 and 16 MiB (12.3 vs 10.5 GB/s at 16 MiB),
// streaming at 32 MiB (4.1-5.1 vs 3.9 GB/s) and at 256 MiB (7.2 vs 2.6 GB/s, mean).
constexpr size_t kStreamingBytes = size_t{32} << 20;

// memcpy, with the 16-byte-aligned middle written by SSE2 streaming stores when `stream`.
void CopyOut(char* dst, const char* src, size_t n, bool stream) {
#if defined(__x86_64__)
  if (stream && n >= 256) {
    const size_t head = (16 - reinterpret_cast<uintptr_t>(dst) % 16) % 16;
    std::memcpy(dst, src, head);
    size_t i = head;
    for (; i + 64 <= n; i += 64) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 16));
      const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 32));
      const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 48));
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i), a);
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 16), b);
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 32), c);
      _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 48), d);
    }
    std::memcpy(dst + i, src + i, n - i);
    _mm_sfence();  // streaming stores are weakly ordered: complete them before we signal
    return;
  }
#endif
  std::memcpy(dst, src, n);
}

// [begin, end) of shard r when `count` elements are split across n ranks, boundaries on cache lines
// (64 bytes) so that two ranks never write the same line and vector loads stay aligned with it.
struct Range { size_t begin, end; };
Range Shard(size_t count, int n, int r, size_t elem_bytes) {
  const size_t align = 64 / elem_bytes;
  const size_t per = RoundUp((count + n - 1) / n, align);
  const size_t b = std::min(count, per * static_cast<size_t>(r));
  return {b, std::min(count, b + per)};
}

std::string SegmentName() {
  std::random_device rd;
  char name[kNameBytes];
  std::snprintf(name, sizeof name, "/loom-comm-%d-%08x", static_cast<int>(getpid()), rd());
  return name;
}

// Opens (or creates) and maps a segment; closes the descriptor either way.
StatusOr<void*> MapSegment(const char* name, size_t bytes, bool create) {
  const int fd = shm_open(name, create ? O_CREAT | O_EXCL | O_RDWR : O_RDWR, 0600);
  LOOM_SYS_CHECK(fd);
  if (create && ftruncate(fd, static_cast<off_t>(bytes)) == -1) {
    const int e = errno;
    close(fd);
    return internal::ErrorAt(StatusCode::kUnavailable, __FILE__, __LINE__,
                             std::string("ftruncate(") + name + "): " + std::strerror(e));
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    return internal::ErrorAt(StatusCode::kUnavailable, __FILE__, __LINE__,
                             std::string("mmap(") + name + "): " + std::strerror(errno));
  }
  return base;
}

}  // namespace

StatusOr<std::unique_ptr<ShmAllReduce>> ShmAllReduce::Create(MPI_Comm local, size_t chunk_bytes) {
  int rank = 0, size = 0;
  LOOM_MPI_CHECK(MPI_Comm_rank(local, &rank));
  LOOM_MPI_CHECK(MPI_Comm_size(local, &size));
  if (size > kMaxLocalRanks) {
    return InvalidArgument("shm all-reduce supports at most " + std::to_string(kMaxLocalRanks) +
                           " ranks per node, not " + std::to_string(size));
  }
  int world_rank = 0;
  LOOM_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
  chunk_bytes = RoundUp(chunk_bytes, 4096);
  const size_t header = HeaderBytes(size, sizeof(Counters), sizeof(Shared));
  const size_t bytes = header + chunk_bytes * kDepth * static_cast<size_t>(size);

  // Local rank 0 creates the segment and broadcasts its name ("" when creation failed).
  char name[kNameBytes] = {};
  StatusOr<void*> mapped = Unavailable("shared-memory segment not created by local rank 0");
  if (rank == 0) {
    const std::string n = SegmentName();
    mapped = MapSegment(n.c_str(), bytes, /*create=*/true);
    if (mapped.ok()) std::snprintf(name, sizeof name, "%s", n.c_str());
    else if (errno != EEXIST) shm_unlink(n.c_str());
  }
  int rc = MPI_Bcast(name, kNameBytes, MPI_CHAR, 0, local);
  if (rc == MPI_SUCCESS && rank != 0 && name[0] != '\0') {
    mapped = MapSegment(name, bytes, /*create=*/false);
  }

  // Each rank's identity, for the liveness checks; the MPI_Allreduce below orders these stores
  // before any peer's first read.
  if (mapped.ok()) {
    Counters& me = static_cast<Counters*>(*mapped)[rank];
    me.pid = getpid();
    me.world_rank = world_rank;
  }

  // Everyone mapped (or someone failed): the name is no longer needed, so it goes now. From here
  // the kernel frees the memory when the last rank unmaps or exits, whatever happens.
  int ok = mapped.ok() ? 1 : 0, all_ok = 0;
  if (rc == MPI_SUCCESS) rc = MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, local);
  if (rank == 0 && name[0] != '\0') shm_unlink(name);
  if (rc != MPI_SUCCESS || !all_ok) {
    if (mapped.ok()) munmap(*mapped, bytes);
    if (!mapped.ok()) return mapped.status();
    if (rc != MPI_SUCCESS) return internal::MpiError(rc, "MPI_Bcast/MPI_Allreduce", __FILE__, __LINE__);
    return Unavailable("another local rank could not map the shared-memory segment");
  }
  std::unique_ptr<ShmAllReduce> shm(new ShmAllReduce(rank, size, chunk_bytes, *mapped, bytes));
  // Every peer is alive now. If one of them does not look so, its pid is from another pid
  // namespace (a container per rank) and says nothing here: rely on the abort flag alone.
  for (int r = 0; r < size; ++r) {
    if (ProcessGone(static_cast<pid_t>(shm->counters(r).pid))) shm->check_pids_ = false;
  }
  return shm;
}

ShmAllReduce::ShmAllReduce(int rank, int size, size_t chunk_bytes, void* base, size_t bytes)
    : rank_(rank), size_(size), chunk_bytes_(chunk_bytes), base_(base), bytes_(bytes) {}

ShmAllReduce::~ShmAllReduce() { munmap(base_, bytes_); }

ShmAllReduce::Counters& ShmAllReduce::counters(int r) const {
  return static_cast<Counters*>(base_)[r];
}

ShmAllReduce::Shared& ShmAllReduce::shared() const {
  return *reinterpret_cast<Shared*>(static_cast<Counters*>(base_) + size_);
}

char* ShmAllReduce::slot(uint64_t seq, int r) const {
  const size_t header = HeaderBytes(size_, sizeof(Counters), sizeof(Shared));
  const size_t index = (seq % kDepth) * static_cast<size_t>(size_) + static_cast<size_t>(r);
  return static_cast<char*>(base_) + header + index * chunk_bytes_;
}

void ShmAllReduce::Publish(uint64_t Counters::*field, uint64_t seq) const {
  std::atomic_ref<uint64_t>(counters(rank_).*field).store(seq, std::memory_order_release);
}

Status ShmAllReduce::WaitAll(uint64_t Counters::*field, uint64_t seq) {
  using Clock = std::chrono::steady_clock;
  for (int r = 0; r < size_; ++r) {
    std::atomic_ref<uint64_t> c(counters(r).*field);
    int spins = 0;
    Clock::time_point next_check;
    while (c.load(std::memory_order_acquire) < seq) {
      // Spin a little (the peer is usually a few hundred nanoseconds behind on a machine with a
      // core per rank), then give the core away: oversubscribed, the peer may not run until we
      // yield. Only a wait that got that far is long enough to be worth a liveness check.
      if (spins < 128) {
        ++spins;
        CpuRelax();
        continue;
      }
      sched_yield();
      const Clock::time_point now = Clock::now();
      if (spins == 128) {  // first yield: start the liveness clock
        ++spins;
        next_check = now + std::chrono::milliseconds(kLivenessCheckMs);
      }
      if (now < next_check) continue;
      next_check = now + std::chrono::milliseconds(kLivenessCheckMs);
      LOOM_RETURN_IF_ERROR(CheckPeers(r));
    }
  }
  return Status::Ok();
}

std::string ShmAllReduce::Name(int r) const {
  return "rank " + std::to_string(counters(r).world_rank) + " (local rank " + std::to_string(r) +
         ", pid " + std::to_string(counters(r).pid) + ")";
}

Status ShmAllReduce::CheckPeers(int waiting_for) {
  const uint64_t abort = std::atomic_ref<uint64_t>(shared().abort).load(std::memory_order_acquire);
  if (abort != 0) {
    const int by = static_cast<int>(abort >> 32) - 1;
    const int blamed = static_cast<int>((abort & 0xffffffffu) >> 1);
    const bool died = abort & 1;
    std::string why = "shared-memory all-reduce: " + Name(blamed) +
                      (died ? " died during the collective" : " failed in it");
    if (by != blamed) why += " (seen by " + Name(by) + ")";
    return Abort(Unavailable(std::move(why)), blamed, died);
  }
  if (!check_pids_) return Status::Ok();
  // The rank waited for first: that is the one whose death the message should name. Any other
  // dead rank will stop us at a later wait anyway.
  for (int i = 0; i < size_; ++i) {
    const int r = (waiting_for + i) % size_;
    if (r != rank_ && ProcessGone(static_cast<pid_t>(counters(r).pid))) {
      return Abort(Unavailable("shared-memory all-reduce: " + Name(r) +
                               " died during the collective"),
                   r, /*died=*/true);
    }
  }
  return Status::Ok();
}

Status ShmAllReduce::Abort(Status why, int blamed, bool died) {
  // The first abort wins, so every rank names the same culprit.
  uint64_t expected = 0;
  const uint64_t word = (static_cast<uint64_t>(rank_) + 1) << 32 |
                        static_cast<uint64_t>(blamed) << 1 | (died ? 1 : 0);
  std::atomic_ref<uint64_t>(shared().abort)
      .compare_exchange_strong(expected, word, std::memory_order_acq_rel);
  if (broken_.ok()) broken_ = std::move(why);
  return broken_;
}

Status ShmAllReduce::Run(const void* send, void* recv, size_t count, DType dtype, RedOp op,
                         const ShardHook& cross_node, int avg_divisor) {
  const size_t es = DTypeSize(dtype);
  const size_t chunk = chunk_bytes_ / es;
  const bool stream = count * es >= kStreamingBytes;
  if (!broken_.ok()) return broken_;
  for (size_t off = 0; off < count; off += chunk) {
    LOOM_RETURN_IF_ERROR(RunChunk(static_cast<const char*>(send) + off * es,
                                  static_cast<char*>(recv) + off * es, std::min(chunk, count - off),
                                  dtype, op, cross_node, avg_divisor, stream));
  }
  return Status::Ok();
}

Status ShmAllReduce::RunChunk(const char* send, char* recv, size_t count, DType dtype, RedOp op,
                              const ShardHook& cross_node, int avg_divisor, bool stream) {
  const size_t es = DTypeSize(dtype);
  const uint64_t seq = ++seq_;
  char* mine = slot(seq, rank_);

  // 1. Copy in, once every rank is done with the chunk that last used this slot. My own shard
  //    stays where it is: only I reduce it, and I can read it from `send` directly. That saves
  //    1/L of the copy-in traffic (half of it at 2 ranks).
  const Range s = Shard(count, size_, rank_, es);
  if (seq > kDepth) LOOM_RETURN_IF_ERROR(WaitAll(&Counters::consumed, seq - kDepth));
  std::memcpy(mine, send, s.begin * es);
  std::memcpy(mine + s.end * es, send + s.end * es, (count - s.end) * es);
  Publish(&Counters::copied, seq);
  LOOM_RETURN_IF_ERROR(WaitAll(&Counters::copied, seq));

  // 2. Reduce my shard across every rank's slot (mine from `send`), into my slot. Hierarchical:
  //    sum here, reduce across nodes, and only then average over the whole world. In place,
  //    `send` is also `recv`: my shard of it is read here and overwritten only in step 3.
  if (s.end > s.begin) {
    const void* srcs[kMaxLocalRanks];
    for (int r = 0; r < size_; ++r) srcs[r] = slot(seq, r) + s.begin * es;
    srcs[rank_] = send + s.begin * es;
    char* shard = mine + s.begin * es;
    const size_t n = s.end - s.begin;
    const bool fuse_avg = op == RedOp::kAvg && !cross_node;
    ReduceN(shard, srcs, size_, n, dtype, op == RedOp::kAvg && !fuse_avg ? RedOp::kSum : op);
    if (cross_node) {
      if (Status s = cross_node(shard, n, dtype, op == RedOp::kAvg ? RedOp::kSum : op); !s.ok()) {
        return Abort(std::move(s), rank_, /*died=*/false);  // the peers wait for my shard
      }
      if (op == RedOp::kAvg) DivideBy(shard, shard, n, dtype, avg_divisor);
    }
  }
  Publish(&Counters::reduced, seq);
  LOOM_RETURN_IF_ERROR(WaitAll(&Counters::reduced, seq));

  // 3. Copy every rank's reduced shard out.
  for (int r = 0; r < size_; ++r) {
    const Range t = Shard(count, size_, r, es);
    CopyOut(recv + t.begin * es, slot(seq, r) + t.begin * es, (t.end - t.begin) * es, stream);
  }
  Publish(&Counters::consumed, seq);
  return Status::Ok();
}

}  // namespace loom::comm
