#include "bench/coll/options.h"

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "bench/coll/collectives.h"

namespace loom::bench::coll {
namespace {

StatusOr<long long> ParseInt(const std::string& flag, const std::string& v, long long lo,
                             long long hi) {
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi) {
    return InvalidArgument(flag + ": '" + v + "' is not an integer in [" + std::to_string(lo) +
                           ", " + std::to_string(hi) + "]");
  }
  return x;
}

// A list flag's value: one name or "all".
template <class T, class Parse>
StatusOr<std::vector<T>> ParseList(const std::string& flag, const std::string& v,
                                   const T* all, size_t n_all, Parse parse) {
  if (v == "all") return std::vector<T>(all, all + n_all);
  T x;
  if (!parse(v, &x)) return InvalidArgument(flag + ": unknown value '" + v + "'");
  return std::vector<T>{x};
}

}  // namespace

const char* Usage() {
  return R"(usage: loom-bench coll [COLLECTIVE...] [options]     (run under mpirun, one process per rank)

collectives: all_reduce (default), reduce, broadcast, all_gather, reduce_scatter, alltoall, all
  -b, --minbytes N       smallest size (8, 64K, 1M, 1G)              [32M]
  -e, --maxbytes N       largest size                                [32M]
  -f, --stepfactor F     multiply the size by F each step            [off]
  -i, --stepbytes N      add N to the size each step (without -f)    [1M]
  -n, --iters N          timed iterations per size                   [20]
  -w, --warmup_iters N   untimed iterations per size                 [5]
  -c, --check 0|1        check every result against the expected     [1]
  -d, --datatype T       float, half, bfloat16, int32 or all         [float]
  -o, --op OP            sum, max, min, avg or all                   [sum]
  -r, --root R           root of reduce and broadcast                [0]
  -B, --backend B        mpi, shm, nccl or auto                      [auto]
      --shm-min-bytes N  auto/shm: smallest all-reduce sent to shm   [measured default]
      --baseline 0|1     also time the raw MPI call, print loom/raw  [1 on mpi/shm/auto]
      --stream-copy 0|1  measure memcpy bandwidth, all ranks at once [1]
      --fit FILE         write the alpha-beta fit of every collective to FILE (JSON)
      --json             print one JSON document instead of the table
      --best             time: fastest iteration (max over ranks), not the mean
  -h, --help
)";
}

StatusOr<size_t> ParseSize(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty size");
  size_t scale = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'K': case 'k': scale = size_t{1} << 10; break;
    case 'M': case 'm': scale = size_t{1} << 20; break;
    case 'G': case 'g': scale = size_t{1} << 30; break;
    default: break;
  }
  if (scale != 1) digits.pop_back();
  LOOM_ASSIGN_OR_RETURN(long long n, ParseInt("size", digits, 0, (1LL << 40)));
  return static_cast<size_t>(n) * scale;
}

StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  bool named_collective = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    const bool is_flag = flag.size() > 1 && flag[0] == '-';
    if (!is_flag) {  // a collective
      if (!named_collective) o.collectives.clear();
      named_collective = true;
      if (flag == "all") {
        for (const CollDesc& d : AllCollectives()) o.collectives.emplace_back(d.name);
      } else if (FindCollective(flag) == nullptr) {
        return InvalidArgument("unknown collective '" + flag + "'");
      } else {
        o.collectives.push_back(flag);
      }
      continue;
    }
    if (const size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    auto is = [&](std::string_view s, std::string_view l) { return flag == s || flag == l; };
    if (is("-h", "--help")) { o.help = true; continue; }
    if (is("--json", "--json")) { o.json = true; continue; }
    if (is("--best", "--best")) { o.best = true; continue; }
    if (value.empty()) {
      if (i + 1 >= argc) return InvalidArgument(flag + " needs a value");
      value = argv[++i];
    }
    if (is("-b", "--minbytes")) { LOOM_ASSIGN_OR_RETURN(o.min_bytes, ParseSize(value)); }
    else if (is("-e", "--maxbytes")) { LOOM_ASSIGN_OR_RETURN(o.max_bytes, ParseSize(value)); }
    else if (is("-i", "--stepbytes")) { LOOM_ASSIGN_OR_RETURN(o.step_bytes, ParseSize(value)); }
    else if (is("-f", "--stepfactor")) {
      char* end = nullptr;
      o.step_factor = std::strtod(value.c_str(), &end);
      if (*end != '\0' || !(o.step_factor >= 1)) {
        return InvalidArgument(flag + ": '" + value + "' is not a factor >= 1");
      }
    }
    else if (is("-n", "--iters")) { LOOM_ASSIGN_OR_RETURN(o.iters, ParseInt(flag, value, 1, 1 << 24)); }
    else if (is("-w", "--warmup_iters")) { LOOM_ASSIGN_OR_RETURN(o.warmup, ParseInt(flag, value, 0, 1 << 24)); }
    else if (is("-c", "--check")) { LOOM_ASSIGN_OR_RETURN(o.check, ParseInt(flag, value, 0, 1)); }
    else if (is("-r", "--root")) { LOOM_ASSIGN_OR_RETURN(o.root, ParseInt(flag, value, 0, 1 << 24)); }
    else if (is("-d", "--datatype")) {
      LOOM_ASSIGN_OR_RETURN(o.dtypes, ParseList(flag, value, comm::kAllDTypes, 4, comm::ParseDType));
    } else if (is("-o", "--op")) {
      LOOM_ASSIGN_OR_RETURN(o.redops, ParseList(flag, value, comm::kAllRedOps, 4, comm::ParseRedOp));
    } else if (is("-B", "--backend")) {
      if (!comm::ParseBackend(value, &o.backend)) {
        return InvalidArgument(flag + ": unknown backend '" + value + "' (mpi, shm, nccl, auto)");
      }
    }
    else if (is("--shm-min-bytes", "--shm-min-bytes")) {
      LOOM_ASSIGN_OR_RETURN(size_t b, ParseSize(value));
      o.shm_min_bytes = static_cast<long long>(b);
    }
    else if (is("--baseline", "--baseline")) { LOOM_ASSIGN_OR_RETURN(o.baseline, ParseInt(flag, value, 0, 1)); }
    else if (is("--stream-copy", "--stream-copy")) { LOOM_ASSIGN_OR_RETURN(o.stream_copy, ParseInt(flag, value, 0, 1)); }
    else if (is("--fit", "--fit")) { o.fit_path = value; }
    else return InvalidArgument("unknown option '" + flag + "' (see --help)");
  }
  if (o.min_bytes > o.max_bytes) return InvalidArgument("-b is larger than -e");
  if (o.step_factor == 1 && o.step_bytes == 0 && o.min_bytes != o.max_bytes) {
    return InvalidArgument("-i 0 without -f would never reach -e");
  }
  if (o.baseline < 0) o.baseline = o.backend == comm::Backend::kNccl ? 0 : 1;
  return o;
}

}  // namespace loom::bench::coll
