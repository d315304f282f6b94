#include "bench/coll/fit.h"

#include <cmath>
#include <cstdio>

namespace loom::bench::coll {

AlphaBeta FitAlphaBeta(std::span<const FitPoint> pts) {
  AlphaBeta f;
  f.points = static_cast<int>(pts.size());
  double s = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const FitPoint& p : pts) {
    if (p.seconds <= 0) continue;
    const double w = 1 / (p.seconds * p.seconds);
    s += w;
    sx += w * p.bus_bytes;
    sy += w * p.seconds;
    sxx += w * p.bus_bytes * p.bus_bytes;
    sxy += w * p.bus_bytes * p.seconds;
  }
  if (s == 0) return f;
  const double det = s * sxx - sx * sx;
  if (std::fabs(det) <= 1e-12 * s * sxx) {
    f.alpha_s = sy / s;
  } else {
    f.beta_s_per_byte = (s * sxy - sx * sy) / det;
    f.alpha_s = (sy - f.beta_s_per_byte * sx) / s;
  }
  double sq = 0;
  for (const FitPoint& p : pts) {
    if (p.seconds <= 0) continue;
    const double rel = (f.alpha_s + f.beta_s_per_byte * p.bus_bytes - p.seconds) / p.seconds;
    sq += rel * rel;
  }
  f.rel_rms = std::sqrt(sq / f.points);
  return f;
}

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace loom::bench::coll
