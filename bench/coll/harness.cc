// loom-bench coll: the harness, nccl-tests' common.cu in spirit. It owns the argument parsing, the
// size sweep, timing, checking and reporting; collectives.cc only describes each operation.
//
// Per size and variant (out of place, in place): fill the inputs, run once and count wrong
// elements (-c), run -w untimed iterations, then time -n back-to-back iterations; the time
// reported is the slowest rank's mean. algbw = size / time, busbw = algbw * the op's factor. With
// --baseline the raw MPI call is timed the same way on the same buffers.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bench/coll/collectives.h"
#include "bench/coll/fit.h"
#include "bench/coll/options.h"
#include "kernels/comm/buffer.h"
#include "kernels/comm/communicator.h"
#if LOOM_COMM_HAVE_MPI
#include <mpi.h>

#include "kernels/comm/mpi_communicator.h"
#endif

#ifndef LOOM_COMM_HAVE_MPI
#define LOOM_COMM_HAVE_MPI 0
#endif

namespace loom::bench {
int RunColl(int argc, char** argv);
}

namespace loom::bench::coll {
namespace {

using comm::Buffer;
using comm::Communicator;
using comm::DType;
using comm::RedOp;
using Clock = std::chrono::steady_clock;

struct Timing {
  double us = 0, algbw = 0, busbw = 0;
  long wrong = -1;  // -1: not checked
};

struct Row {
  const CollDesc* desc;
  size_t bytes, count;
  DType dtype;
  RedOp op;
  int root;
  Timing oop, ip;
  std::optional<Timing> raw;  // out of place, raw MPI
};

struct MemcpyRate {
  size_t bytes = 0;
  double per_rank_gbps = 0;  // bytes copied per second by each rank, all ranks copying at once
};

// Converts Status failures into the process's exit: print on every rank that fails.
#define BENCH_CHECK(expr)                                                           \
  do {                                                                              \
    ::loom::Status s_ = (expr);                                                     \
    if (!s_.ok()) {                                                                 \
      std::fprintf(stderr, "loom-bench coll: %s\n", s_.ToString().c_str());        \
      return 1;                                                                     \
    }                                                                               \
  } while (0)

// --best applies where iterations complete one by one (host backends); device backends queue them.
bool ReportsBest(const Options& o, const Communicator& c) {
  return o.best && c.memory_kind() == comm::MemoryKind::kHost;
}
const char* TimeStatName(const Options& o, const Communicator& c) {
  return ReportsBest(o, c) ? "best" : "mean";
}

class Harness {
 public:
  Harness(const Options& o, Communicator& c) : opt_(o), comm_(c) {}

  Status Init() {
    LOOM_ASSIGN_OR_RETURN(a_, Buffer::Allocate(comm_.memory_kind(), opt_.max_bytes + 64));
    LOOM_ASSIGN_OR_RETURN(b_, Buffer::Allocate(comm_.memory_kind(), opt_.max_bytes + 64));
    LOOM_ASSIGN_OR_RETURN(scratch_, Buffer::Allocate(comm_.memory_kind(), 64));
    host_.resize(opt_.max_bytes + 64);
#if LOOM_COMM_HAVE_MPI
    if (opt_.baseline && comm_.memory_kind() == comm::MemoryKind::kHost) {
      LOOM_ASSIGN_OR_RETURN(mpi_types_, comm::MpiTypes::Create());
    }
#endif
    return Status::Ok();
  }

  Status Sweep(const CollDesc& d, DType dtype, RedOp op) {
    const size_t es = comm::DTypeSize(dtype);
    // Like nccl-tests, warm up at the largest and the smallest size before timing anything, so the
    // first row does not carry lazy setup (connections, page mappings, code paging in).
    for (size_t bytes : {opt_.max_bytes, opt_.min_bytes}) {
      const Counts k = d.counts(bytes / es, comm_.size(), comm_.rank());
      LOOM_RETURN_IF_ERROR(Measure(d, k, dtype, op, /*in_place=*/false).status());
      LOOM_RETURN_IF_ERROR(MeasureRaw(d, k, dtype, op).status());
    }
    for (size_t bytes = opt_.min_bytes; bytes <= opt_.max_bytes; bytes = NextSize(bytes)) {
      const Counts k = d.counts(bytes / es, comm_.size(), comm_.rank());
      Row row{&d, std::max(k.send, k.recv) * es, bytes / es, dtype, op, opt_.root, {}, {}, {}};
      LOOM_ASSIGN_OR_RETURN(row.oop, Measure(d, k, dtype, op, /*in_place=*/false));
      LOOM_ASSIGN_OR_RETURN(row.ip, Measure(d, k, dtype, op, /*in_place=*/true));
      LOOM_ASSIGN_OR_RETURN(row.raw, MeasureRaw(d, k, dtype, op));
      for (Timing* t : {&row.oop, &row.ip}) SetBandwidth(d, row.bytes, t);
      if (row.raw) SetBandwidth(d, row.bytes, &*row.raw);
      if (!opt_.json && comm_.rank() == 0) PrintRow(row);
      rows_.push_back(row);
      if (bytes == opt_.max_bytes) break;
    }
    return Status::Ok();
  }

  StatusOr<MemcpyRate> MeasureMemcpy() {
    MemcpyRate m;
    m.bytes = size_t{128} << 20;  // 4x this VM's 32 MiB L3: DRAM, not cache
    LOOM_ASSIGN_OR_RETURN(Buffer src, Buffer::Allocate(comm::MemoryKind::kHost, m.bytes));
    LOOM_ASSIGN_OR_RETURN(Buffer dst, Buffer::Allocate(comm::MemoryKind::kHost, m.bytes));
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      LOOM_RETURN_IF_ERROR(comm_.Barrier());
      const auto t0 = Clock::now();
      std::memcpy(dst.data(), src.data(), m.bytes);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      LOOM_ASSIGN_OR_RETURN(double slowest, MaxOverRanks(s));
      best = std::min(best, slowest);
    }
    m.per_rank_gbps = m.bytes / best / 1e9;
    return m;
  }

  const std::vector<Row>& rows() const { return rows_; }

 private:
  size_t NextSize(size_t s) const {
    const size_t next = opt_.step_factor > 1 ? static_cast<size_t>(s * opt_.step_factor)
                                             : s + opt_.step_bytes;
    return std::min(std::max(next, s + 1), opt_.max_bytes);
  }

  void SetBandwidth(const CollDesc& d, size_t bytes, Timing* t) const {
    t->algbw = t->us > 0 ? bytes / t->us / 1e3 : 0;  // bytes/us/1e3 = GB/s
    t->busbw = t->algbw * d.bus_factor(comm_.size());
  }

  // Where send and recv sit for one variant: out of place, send in a_ and recv in b_; in place,
  // both in b_ at the op's offsets.
  struct Place {
    char* send;
    char* recv;
    size_t recv_byte_offset_in_b;
  };
  Place PlaceFor(const Counts& k, size_t es, bool in_place) const {
    char* a = static_cast<char*>(a_.data());
    char* b = static_cast<char*>(b_.data());
    if (!in_place) return {a, b, 0};
    return {b + k.in_place_send_offset * es, b + k.in_place_recv_offset * es,
            k.in_place_recv_offset * es};
  }

  StatusOr<Timing> Measure(const CollDesc& d, const Counts& k, DType dtype, RedOp op,
                           bool in_place) {
    const size_t es = comm::DTypeSize(dtype);
    const Place p = PlaceFor(k, es, in_place);
    Timing t;
    if (opt_.check) {
      LOOM_RETURN_IF_ERROR(Fill(k, dtype, p, in_place));
      LOOM_RETURN_IF_ERROR(d.run(comm_, p.send, p.recv, k.param, dtype, op, opt_.root, nullptr));
      LOOM_ASSIGN_OR_RETURN(long wrong, CountWrong(d, k, dtype, op, p));
      LOOM_ASSIGN_OR_RETURN(t.wrong, SumOverRanks(wrong));
    }
    auto once = [&](comm::Request* async) {
      return d.run(comm_, p.send, p.recv, k.param, dtype, op, opt_.root, async);
    };
    LOOM_ASSIGN_OR_RETURN(t.us, TimeLoop(once));
    return t;
  }

  // Device backends queue every iteration and wait for the last, as nccl-tests does; host backends
  // complete each call before the next, so each iteration can be timed on its own for --best.
  template <class Once>
  StatusOr<double> TimeLoop(Once once) {
    const bool queue = comm_.memory_kind() == comm::MemoryKind::kCuda;
    for (int i = 0; i < opt_.warmup; ++i) LOOM_RETURN_IF_ERROR(once(nullptr));
    LOOM_RETURN_IF_ERROR(comm_.Barrier());
    comm::Request last;
    double best_us = std::numeric_limits<double>::infinity();
    const auto t0 = Clock::now();
    auto ti = t0;
    for (int i = 0; i < opt_.iters; ++i) {
      LOOM_RETURN_IF_ERROR(once(queue ? &last : nullptr));
      const auto now = Clock::now();
      best_us = std::min(best_us, std::chrono::duration<double, std::micro>(now - ti).count());
      ti = now;
    }
    LOOM_RETURN_IF_ERROR(last.Wait());
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    // The slowest rank's best: a blocking collective cannot finish on one rank long before the
    // others contributed, so a rank's fastest iteration is one in which every rank ran.
    return MaxOverRanks(ReportsBest(opt_, comm_) ? best_us : us / opt_.iters);
  }

  StatusOr<std::optional<Timing>> MeasureRaw(const CollDesc& d, const Counts& k, DType dtype,
                                             RedOp op) {
#if LOOM_COMM_HAVE_MPI
    if (!mpi_types_) return std::optional<Timing>();
    const Place p = PlaceFor(k, comm::DTypeSize(dtype), false);
    const MPI_Datatype type = mpi_types_->type(dtype);
    const MPI_Op mpi_op = mpi_types_->op(dtype, op);
    auto once = [&](comm::Request*) -> Status {
      const int rc = d.raw_mpi(p.send, p.recv, static_cast<int>(k.param), type, mpi_op, opt_.root,
                               MPI_COMM_WORLD);
      if (rc != MPI_SUCCESS) return Internal("raw MPI call failed: " + std::to_string(rc));
      return Status::Ok();
    };
    Timing t;
    LOOM_ASSIGN_OR_RETURN(t.us, TimeLoop(once));
    return std::optional<Timing>(t);
#else
    (void)d, (void)k, (void)dtype, (void)op;
    return std::optional<Timing>();
#endif
  }

  Status Fill(const Counts& k, DType dtype, const Place& p, bool in_place) {
    const size_t es = comm::DTypeSize(dtype);
    char* h = host_.data();
    // Out of place the recv buffer starts as a sentinel no result equals.
    if (!in_place) {
      for (size_t i = 0; i < k.recv; ++i) comm::SetElement(h, i, dtype, 99);
      LOOM_RETURN_IF_ERROR(b_.Upload(h, k.recv * es));
    }
    for (size_t j = 0; j < k.send; ++j) comm::SetElement(h, j, dtype, Input(dtype, comm_.rank(), j));
    Buffer& target = in_place ? b_ : a_;
    const size_t offset = p.send - static_cast<char*>(target.data());
    return target.Upload(h, k.send * es, offset);
  }

  StatusOr<long> CountWrong(const CollDesc& d, const Counts& k, DType dtype, RedOp op,
                            const Place& p) {
    const size_t es = comm::DTypeSize(dtype);
    LOOM_RETURN_IF_ERROR(b_.Download(host_.data(), k.recv * es, p.recv_byte_offset_in_b));
    const CheckContext ctx{comm_.rank(), comm_.size(), opt_.root, dtype, op, k};
    long wrong = 0;
    for (size_t i = 0; i < k.recv; ++i) {
      const std::optional<Expected> e = d.expect(ctx, i);
      if (!e) continue;
      const double got = comm::GetElement(host_.data(), i, dtype);
      if (!(std::fabs(got - e->value) <= e->tolerance)) ++wrong;
    }
    return wrong;
  }

  // The harness's own bookkeeping goes through the communicator, so it needs no MPI (NCCL builds).
  StatusOr<double> MaxOverRanks(double x) {
    const float v = static_cast<float>(x);
    LOOM_RETURN_IF_ERROR(scratch_.Upload(&v, sizeof v));
    LOOM_RETURN_IF_ERROR(
        comm_.AllReduce(scratch_.data(), scratch_.data(), 1, DType::kFloat32, RedOp::kMax));
    float out = 0;
    LOOM_RETURN_IF_ERROR(scratch_.Download(&out, sizeof out));
    return std::max<double>(out, x);  // float rounding must not report less than this rank saw
  }
  StatusOr<long> SumOverRanks(long x) {
    const int32_t v = static_cast<int32_t>(std::min<long>(x, 1 << 24));
    LOOM_RETURN_IF_ERROR(scratch_.Upload(&v, sizeof v));
    LOOM_RETURN_IF_ERROR(
        comm_.AllReduce(scratch_.data(), scratch_.data(), 1, DType::kInt32, RedOp::kSum));
    int32_t out = 0;
    LOOM_RETURN_IF_ERROR(scratch_.Download(&out, sizeof out));
    return out;
  }

  void PrintRow(const Row& r) const {
    auto variant = [](const Timing& t) {
      char wrong[16];
      if (t.wrong < 0) std::snprintf(wrong, sizeof wrong, "N/A");
      else std::snprintf(wrong, sizeof wrong, "%ld", t.wrong);
      char buf[96];
      std::snprintf(buf, sizeof buf, "  %8.2f  %6.2f  %6.2f  %5s", t.us, t.algbw, t.busbw, wrong);
      return std::string(buf);
    };
    std::string raw;
    if (r.raw) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "  %8.2f  %6.2f  %7.3f", r.raw->us, r.raw->busbw,
                    r.oop.us > 0 ? r.raw->us / r.oop.us : 0);
      raw = buf;
    }
    std::printf("%12zu  %12zu  %8s  %6s  %6d%s%s%s\n", r.bytes, r.count,
                std::string(comm::DTypeName(r.dtype)).c_str(),
                r.desc->uses_redop ? std::string(comm::RedOpName(r.op)).c_str() : "none",
                r.desc->uses_root ? r.root : -1, variant(r.oop).c_str(), variant(r.ip).c_str(),
                raw.c_str());
    std::fflush(stdout);
  }

  const Options& opt_;
  Communicator& comm_;
  Buffer a_, b_, scratch_;
  std::vector<char> host_;
  std::vector<Row> rows_;
#if LOOM_COMM_HAVE_MPI
  std::unique_ptr<comm::MpiTypes> mpi_types_;
#endif
};

// ---- Reporting --------------------------------------------------------------------------------

std::string Hostname() {
  char h[256] = {};
  gethostname(h, sizeof h - 1);
  return h;
}

void PrintHeader(const Options& o, const Communicator& c, const CollDesc& d, bool baseline) {
  std::printf("# loom-bench coll %s: %s\n", std::string(d.name).c_str(), c.Describe().c_str());
  std::printf("# nranks %d minBytes %zu maxBytes %zu step: %g(%s) warmup iters: %d iters: %d "
              "validation: %d time: %s\n#\n",
              c.size(), o.min_bytes, o.max_bytes,
              o.step_factor > 1 ? o.step_factor : static_cast<double>(o.step_bytes),
              o.step_factor > 1 ? "factor" : "bytes", o.warmup, o.iters, o.check ? 1 : 0,
              TimeStatName(o, c));
  std::printf("#  Rank %2d Pid %6d on %10s device %s\n#\n", c.rank(), static_cast<int>(getpid()),
              Hostname().c_str(), c.memory_kind() == comm::MemoryKind::kCuda ? "cuda" : "cpu");
  const char* raw_top = baseline ? "        raw MPI (oop)" : "";
  const char* raw_mid = baseline ? "      time   busbw  raw/loom" : "";
  const char* raw_unit = baseline ? "      (us)  (GB/s)   time" : "";
  std::printf("# %58s out-of-place %24s in-place %10s%s\n", "", "", "", raw_top);
  std::printf("# %10s  %12s  %8s  %6s  %6s  %8s  %6s  %6s  %5s  %8s  %6s  %6s  %5s%s\n", "size",
              "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time",
              "algbw", "busbw", "#wrong", raw_mid);
  std::printf("# %10s  %12s  %8s  %6s  %6s  %8s  %6s  %6s  %5s  %8s  %6s  %6s  %5s%s\n", "(B)",
              "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)",
              "", raw_unit);
}

struct Summary {
  long wrong = 0;
  double avg_busbw = 0;
  // Baseline: loom busbw / raw busbw, out of place, sizes >= 1 MiB; and the smallest size's times.
  double ratio_mean = 0, ratio_min = 0;
  int ratio_n = 0;
  const Row* smallest = nullptr;
};

Summary Summarize(const std::vector<Row>& rows) {
  Summary s;
  int n = 0;
  s.ratio_min = 1e30;
  for (const Row& r : rows) {
    s.wrong += std::max(0L, r.oop.wrong) + std::max(0L, r.ip.wrong);
    s.avg_busbw += r.oop.busbw + r.ip.busbw;
    n += 2;
    if (r.raw && r.bytes >= (1u << 20) && r.raw->busbw > 0) {
      const double ratio = r.oop.busbw / r.raw->busbw;
      s.ratio_mean += ratio;
      s.ratio_min = std::min(s.ratio_min, ratio);
      ++s.ratio_n;
    }
    if (r.raw && (!s.smallest || r.bytes < s.smallest->bytes)) s.smallest = &r;
  }
  if (n) s.avg_busbw /= n;
  if (s.ratio_n) s.ratio_mean /= s.ratio_n;
  return s;
}

void PrintSummary(const Summary& s, const std::optional<MemcpyRate>& mem,
                  const std::vector<Row>& rows) {
  std::printf("# Out of bounds values : %ld %s\n", s.wrong, s.wrong ? "FAILED" : "OK");
  std::printf("# Avg bus bandwidth    : %g \n#\n", s.avg_busbw);
  if (s.ratio_n) {
    std::printf("# Loom/raw MPI busbw, out-of-place, sizes >= 1 MiB: mean %.3f, min %.3f (%d sizes)\n",
                s.ratio_mean, s.ratio_min, s.ratio_n);
  }
  if (s.smallest) {
    std::printf("# Loom - raw MPI time at %zu B: %.2f - %.2f = %+.2f us\n", s.smallest->bytes,
                s.smallest->oop.us, s.smallest->raw->us, s.smallest->oop.us - s.smallest->raw->us);
  }
  if (mem) {
    std::printf("# memcpy %zu MiB, every rank at once: %.2f GB/s per rank (%.2f GB/s read+write, "
                "STREAM copy convention)\n",
                mem->bytes >> 20, mem->per_rank_gbps, 2 * mem->per_rank_gbps);
    // An intra-node all-reduce must at least read its input and write its output on every rank:
    // a concurrent memcpy per rank is its floor, so algbw / memcpy rate is the share of the limit.
    const Row* big = nullptr;
    for (const Row& r : rows) {
      if (r.desc->name == "all_reduce" && (!big || r.bytes >= big->bytes)) big = &r;
    }
    if (big) {
      std::printf("# all_reduce at %zu B: algbw %.2f GB/s = %.0f%% of the per-rank memcpy rate",
                  big->bytes, big->oop.algbw, 100 * big->oop.algbw / mem->per_rank_gbps);
      if (big->raw) {
        std::printf(" (raw MPI: %.0f%%)", 100 * big->raw->algbw / mem->per_rank_gbps);
      }
      std::printf("\n");
    }
  }
}

std::string TimingJson(const Timing& t) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "{\"time_us\": %.3f, \"algbw_GBps\": %.4f, \"busbw_GBps\": %.4f%s",
                t.us, t.algbw, t.busbw, t.wrong >= 0 ? ", \"wrong\": " : "");
  return buf + (t.wrong >= 0 ? std::to_string(t.wrong) : std::string()) + "}";
}

void PrintJson(const Options& o, const Communicator& c, const std::vector<Row>& rows,
               const Summary& s, const std::optional<MemcpyRate>& mem) {
  std::printf("{\"bench\": \"coll\", \"host\": %s, \"backend\": %s, \"nranks\": %d, "
              "\"iters\": %d, \"warmup\": %d, \"time\": \"%s\",\n \"rows\": [\n",
              JsonQuote(Hostname()).c_str(), JsonQuote(c.Describe()).c_str(), c.size(), o.iters,
              o.warmup, TimeStatName(o, c));
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::printf("  {\"collective\": \"%s\", \"size\": %zu, \"count\": %zu, \"type\": \"%s\", "
                "\"redop\": \"%s\", \"root\": %d, \"out_of_place\": %s, \"in_place\": %s%s%s}%s\n",
                std::string(r.desc->name).c_str(), r.bytes, r.count,
                std::string(comm::DTypeName(r.dtype)).c_str(),
                r.desc->uses_redop ? std::string(comm::RedOpName(r.op)).c_str() : "none",
                r.desc->uses_root ? r.root : -1, TimingJson(r.oop).c_str(),
                TimingJson(r.ip).c_str(), r.raw ? ", \"raw_mpi\": " : "",
                r.raw ? TimingJson(*r.raw).c_str() : "", i + 1 < rows.size() ? "," : "");
  }
  std::printf(" ],\n \"wrong\": %ld, \"avg_busbw_GBps\": %.4f", s.wrong, s.avg_busbw);
  if (s.ratio_n) std::printf(", \"loom_over_raw_busbw_mean\": %.4f", s.ratio_mean);
  if (mem) std::printf(", \"memcpy_per_rank_GBps\": %.3f", mem->per_rank_gbps);
  std::printf("}\n");
}

// One fit per (collective, dtype, redop) over the out-of-place sweep.
Status WriteFit(const std::string& path, const Communicator& c, const std::vector<Row>& rows) {
  std::ofstream f(path);
  if (!f) return Unavailable("cannot write " + path);
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  f << "{\n  \"model\": \"time = alpha + beta * bytes * bus_factor\",\n  \"host\": "
    << JsonQuote(Hostname()) << ",\n  \"date\": \"" << date << "\",\n  \"backend\": "
    << JsonQuote(c.Describe()) << ",\n  \"nranks\": " << c.size() << ",\n  \"fits\": [";
  bool first = true;
  for (size_t i = 0; i < rows.size();) {
    size_t j = i;
    std::vector<FitPoint> pts;
    for (; j < rows.size() && rows[j].desc == rows[i].desc && rows[j].dtype == rows[i].dtype &&
           rows[j].op == rows[i].op;
         ++j) {
      pts.push_back({rows[j].bytes * rows[j].desc->bus_factor(c.size()), rows[j].oop.us * 1e-6});
    }
    const AlphaBeta ab = FitAlphaBeta(pts);
    const Row& r = rows[i];
    char line[512];
    std::snprintf(line, sizeof line,
                  "%s\n    {\"collective\": \"%s\", \"type\": \"%s\", \"redop\": \"%s\", "
                  "\"bus_factor\": %.6f, \"alpha_us\": %.4f, \"beta_s_per_byte\": %.6e, "
                  "\"bus_bandwidth_GBps\": %.4f, \"rel_rms\": %.4f, \"points\": %d, "
                  "\"min_bytes\": %zu, \"max_bytes\": %zu}",
                  first ? "" : ",", std::string(r.desc->name).c_str(),
                  std::string(comm::DTypeName(r.dtype)).c_str(),
                  r.desc->uses_redop ? std::string(comm::RedOpName(r.op)).c_str() : "none",
                  r.desc->bus_factor(c.size()), ab.alpha_s * 1e6, ab.beta_s_per_byte,
                  ab.beta_s_per_byte > 0 ? 1e-9 / ab.beta_s_per_byte : 0.0, ab.rel_rms, ab.points,
                  rows[i].bytes, rows[j - 1].bytes);
    f << line;
    first = false;
    i = j;
  }
  f << "\n  ]\n}\n";
  return f ? Status::Ok() : Unavailable("error writing " + path);
}

int Run(const Options& opt) {
  comm::CommOptions co{.backend = opt.backend, .shm_min_bytes = opt.shm_min_bytes};
  StatusOr<std::unique_ptr<Communicator>> created = comm::CreateCommunicator(co);
  BENCH_CHECK(created.status());
  Communicator& c = **created;
  if (opt.root >= c.size()) {
    if (c.rank() == 0) std::fprintf(stderr, "loom-bench coll: --root %d >= %d ranks\n", opt.root, c.size());
    return 2;
  }
  Harness h(opt, c);
  BENCH_CHECK(h.Init());
  const bool baseline = opt.baseline && c.memory_kind() == comm::MemoryKind::kHost &&
                        LOOM_COMM_HAVE_MPI + 0;
  const bool print = c.rank() == 0 && !opt.json;
  for (const std::string& name : opt.collectives) {
    const CollDesc& d = *FindCollective(name);
    if (print) PrintHeader(opt, c, d, baseline);
    for (DType t : opt.dtypes) {
      for (RedOp op : opt.redops) {
        if (d.uses_redop && !comm::IsSupported(t, op)) continue;
        BENCH_CHECK(h.Sweep(d, t, op));
        if (!d.uses_redop) break;  // one sweep per dtype: the redop does not apply
      }
    }
  }
  std::optional<MemcpyRate> mem;
  if (opt.stream_copy && c.memory_kind() == comm::MemoryKind::kHost) {
    StatusOr<MemcpyRate> m = h.MeasureMemcpy();
    BENCH_CHECK(m.status());
    mem = *m;
  }
  const Summary s = Summarize(h.rows());
  if (c.rank() == 0) {
    if (opt.json) PrintJson(opt, c, h.rows(), s, mem);
    else PrintSummary(s, mem, h.rows());
    if (!opt.fit_path.empty()) BENCH_CHECK(WriteFit(opt.fit_path, c, h.rows()));
  }
  return s.wrong > 0 ? 1 : 0;
}

}  // namespace
}  // namespace loom::bench::coll

int loom::bench::RunColl(int argc, char** argv) {
  using namespace loom::bench::coll;
  loom::StatusOr<Options> opt = ParseOptions(argc, argv);
  if (!opt.ok()) {
    std::fprintf(stderr, "loom-bench coll: %s\n", opt.status().message().c_str());
    return 2;
  }
  if (opt->help) {
    std::fputs(Usage(), stdout);
    return 0;
  }
#if LOOM_COMM_HAVE_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) MPI_Init(&argc, &argv);
  const int rc = Run(*opt);  // the communicator is gone before MPI_Finalize
  if (!initialized) MPI_Finalize();
  return rc;
#else
  return Run(*opt);
#endif
}
