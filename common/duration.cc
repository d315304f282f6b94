#include "common/duration.h"

#include <cctype>
#include <cstdio>
#include <vector>

namespace loom {
namespace {

Status Invalid(const std::string& text) {
  return InvalidArgument("invalid time '" + text +
                         "': use minutes, MM:SS, HH:MM:SS, D-HH:MM:SS, or 90s/45m/2h/1d");
}

bool AllDigits(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "1h30m", "90s", "2d": digits followed by a unit, repeated.
StatusOr<int64_t> ParseSuffixed(const std::string& text) {
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start || i == text.size() || i - start > 9) return Invalid(text);
    int64_t n = std::stoll(text.substr(start, i - start));
    switch (text[i++]) {
      case 'd': total += n * 86400; break;
      case 'h': total += n * 3600; break;
      case 'm': total += n * 60; break;
      case 's': total += n; break;
      default: return Invalid(text);
    }
  }
  return total;
}

}  // namespace

StatusOr<int64_t> ParseDuration(const std::string& text) {
  if (text.empty()) return Invalid(text);
  if (std::isalpha(static_cast<unsigned char>(text.back()))) return ParseSuffixed(text);
  int64_t days = 0;
  std::string rest = text;
  if (auto dash = text.find('-'); dash != std::string::npos) {
    std::string d = text.substr(0, dash);
    if (!AllDigits(d)) return Invalid(text);
    days = std::stoll(d);
    rest = text.substr(dash + 1);
  }
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t colon = rest.find(':', start);
    parts.push_back(rest.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() > 3) return Invalid(text);
  std::vector<int64_t> v;
  for (const std::string& p : parts) {
    if (!AllDigits(p)) return Invalid(text);
    v.push_back(std::stoll(p));
  }
  const bool has_days = text.find('-') != std::string::npos;
  if (has_days) {  // D-HH, D-HH:MM, D-HH:MM:SS
    int64_t h = v[0], m = v.size() > 1 ? v[1] : 0, s = v.size() > 2 ? v[2] : 0;
    return days * 86400 + h * 3600 + m * 60 + s;
  }
  switch (v.size()) {
    case 1: return v[0] * 60;                              // minutes
    case 2: return v[0] * 60 + v[1];                       // MM:SS
    default: return v[0] * 3600 + v[1] * 60 + v[2];        // HH:MM:SS
  }
}

std::string FormatDuration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  char buf[48];
  int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60, s = seconds % 60;
  if (d > 0) {
    std::snprintf(buf, sizeof(buf), "%lld-%02lld:%02lld:%02lld", static_cast<long long>(d),
                  static_cast<long long>(h), static_cast<long long>(m), static_cast<long long>(s));
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(s));
  }
  return buf;
}

}  // namespace loom
