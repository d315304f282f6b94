// Where Loom keeps local state and how clients find loomd, shared by loomd, workers and the CLI.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/status.h"

namespace loom {

// $LOOM_HOME, else ~/.loom.
inline std::string LoomHome() {
  if (const char* h = std::getenv("LOOM_HOME"); h && *h) return h;
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.loom";
  return ".loom";
}

// The file loomd writes its listening address to, so clients on this machine find it.
inline std::string AddressFile(const std::string& home) { return home + "/loomd.addr"; }

// The file loomd writes its HTTP URL to (--http-listen: /metrics and the dashboard).
inline std::string HttpUrlFile(const std::string& home) { return home + "/loomd.http"; }
// Where `loom up` leaves its admin token and the CLI looks for one (after $LOOM_TOKEN).
inline std::string TokenFile(const std::string& home) { return home + "/token"; }

// The address of loomd: the flag if given, else $LOOM_SERVER, else what loomd wrote under `home`.
inline StatusOr<std::string> ResolveServer(const std::string& flag, const std::string& home) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("LOOM_SERVER"); env && *env) return std::string(env);
  std::ifstream in(AddressFile(home));
  std::string address;
  if (in && std::getline(in, address) && !address.empty()) return address;
  return Unavailable("loomd is not running (no " + AddressFile(home) +
                     "); start one with `loom up`, or pass --server HOST:PORT");
}

}  // namespace loom
