// What a node may be called. loomd and the worker check the same rule: the name ends up in
// certificates, file paths, host lists and environment variables.
#pragma once

#include <string>

#include "common/status.h"

namespace loom {

inline constexpr size_t kMaxNodeName = 63;

// 1..63 of [A-Za-z0-9._-], starting with a letter or digit (a DNS label, plus '_' and '.').
inline Status ValidateNodeName(const std::string& name) {
  auto bad = [&](const std::string& why) {
    std::string shown = name.size() > 40 ? name.substr(0, 40) + "..." : name;
    return InvalidArgument("node name '" + shown + "' " + why);
  };
  if (name.empty() || name.size() > kMaxNodeName) return bad("must be 1 to 63 characters");
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return bad("must start with a letter or digit");
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return bad("may hold only letters, digits, '-', '_' and '.'");
  }
  return Status::Ok();
}

}  // namespace loom
