#include "worker/supervisor_files.h"

#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>

#include "common/process.h"

namespace loom::worker {

std::string EncodeSpec(const SupervisorSpec& spec) {
  nlohmann::json j;
  j["ranks"] = nlohmann::json::array();
  for (const RankSpec& r : spec.ranks) {
    j["ranks"].push_back({{"argv", r.argv}, {"env", r.env}, {"workdir", r.workdir},
                          {"stdout", r.stdout_path}, {"stderr", r.stderr_path}});
  }
  j["time_limit_ms"] = spec.plan.time_limit_ms;
  j["signal"] = spec.plan.signal;
  j["signal_before_ms"] = spec.plan.signal_before_ms;
  j["grace_ms"] = spec.plan.grace_ms;
  j["lease_file"] = spec.lease_file;
  if (spec.switch_user) j["run_as"] = {{"uid", spec.uid}, {"gid", spec.gid}};
  return j.dump();
}

StatusOr<SupervisorSpec> DecodeSpec(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    SupervisorSpec spec;
    for (const auto& r : j.at("ranks")) {
      RankSpec rank;
      rank.argv = r.at("argv").get<std::vector<std::string>>();
      rank.env = r.at("env").get<std::map<std::string, std::string>>();
      rank.workdir = r.at("workdir").get<std::string>();
      rank.stdout_path = r.at("stdout").get<std::string>();
      rank.stderr_path = r.at("stderr").get<std::string>();
      spec.ranks.push_back(std::move(rank));
    }
    spec.plan.ranks = static_cast<int>(spec.ranks.size());
    spec.plan.time_limit_ms = j.at("time_limit_ms").get<int64_t>();
    spec.plan.signal = j.at("signal").get<int>();
    spec.plan.signal_before_ms = j.at("signal_before_ms").get<int64_t>();
    spec.plan.grace_ms = j.at("grace_ms").get<int64_t>();
    spec.lease_file = j.value("lease_file", "");
    if (j.contains("run_as")) {
      spec.switch_user = true;
      spec.uid = j.at("run_as").at("uid").get<uid_t>();
      spec.gid = j.at("run_as").at("gid").get<gid_t>();
    }
    return spec;
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("malformed supervisor spec: ") + e.what());
  }
}

bool LeaseExpired(const std::string& text, int64_t mtime_ms, int64_t now_ms) {
  std::istringstream in(text);
  int64_t lease_ms = 0;
  if (!(in >> lease_ms) || lease_ms <= 0) return false;
  return now_ms - mtime_ms > lease_ms;
}

std::string EncodeResult(const AttemptResult& result) {
  return std::to_string(result.exit_code) + " " + std::to_string(result.signal) + " " + result.reason + "\n";
}

StatusOr<AttemptResult> DecodeResult(const std::string& text) {
  std::istringstream in(text);
  AttemptResult r;
  if (!(in >> r.exit_code >> r.signal)) return InvalidArgument("malformed exit file");
  std::getline(in >> std::ws, r.reason);
  return r;
}

std::string EncodeKill(const KillRequestFile& kill) {
  return std::to_string(kill.grace_ms) + " " + kill.reason + "\n";
}

KillRequestFile DecodeKill(const std::string& text) {
  std::istringstream in(text);
  KillRequestFile k;
  if (!(in >> k.grace_ms)) return {0, "Killed"};
  std::getline(in >> std::ws, k.reason);
  return k;
}

bool Supervised::Gone() const { return start == 0 || ProcessStartTime(pid) != start; }

Supervised ReadSupervised(const std::string& dir) {
  auto text = ReadWholeFile(dir + "/supervisor");
  std::istringstream who(text.ok() ? *text : "");
  Supervised sup;
  if (!(who >> sup.pid >> sup.start)) return {};
  return sup;
}

void RequestKill(const std::string& dir, const Supervised& sup, int64_t grace_ms, const std::string& reason) {
  Status s = WriteFileAtomically(dir + "/kill", EncodeKill({grace_ms, reason}), /*sync=*/false);
  if (!s.ok()) std::fprintf(stderr, "loom-worker: %s\n", s.message().c_str());
  if (access((dir + "/supervisor").c_str(), F_OK) == 0 && !sup.Gone()) kill(sup.pid, SIGUSR1);
}

std::optional<AttemptResult> SupervisorResult(const std::string& dir, const Supervised& sup,
                                              const std::string& lost_reason) {
  const bool gone = sup.Gone();
  auto text = ReadWholeFile(dir + "/exit");
  StatusOr<AttemptResult> result = text.ok() ? DecodeResult(*text) : StatusOr<AttemptResult>(text.status());
  if (result.ok()) return *result;
  if (!gone) return std::nullopt;
  return AttemptResult{137, 0, lost_reason};
}

}  // namespace loom::worker
