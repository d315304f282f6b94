// The alpha-beta model of a collective: time = alpha + beta * bytes * bus_factor, i.e. a latency
// plus the bus bytes at an asymptotic bus bandwidth 1/beta. loom-sim reads these to price
// communication on clusters it cannot run.
#pragma once

#include <span>
#include <string>

namespace loom::bench::coll {

struct FitPoint {
  double bus_bytes;  // size * bus factor
  double seconds;
};

struct AlphaBeta {
  double alpha_s = 0;         // latency (s); may come out slightly negative from noisy data
  double beta_s_per_byte = 0;
  double rel_rms = 0;         // root-mean-square relative error of the fit over the points
  int points = 0;
};

// Weighted least squares with weights 1/t^2, i.e. minimizing relative error: a sweep spans six
// orders of magnitude in time, and plain least squares would fit the largest sizes only and leave
// alpha to noise. Needs at least two distinct sizes (else alpha = mean time, beta = 0).
AlphaBeta FitAlphaBeta(std::span<const FitPoint> points);

// Minimal JSON string escaping for names we write.
std::string JsonQuote(const std::string& s);

}  // namespace loom::bench::coll
