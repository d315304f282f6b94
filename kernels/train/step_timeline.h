// A GPU step's figures from its timeline: the intervals the compute stream was busy and those the
// communication stream was busy, as CUDA events measured them (seconds from the step's start).
// Pure, so the accounting is tested on CPU.
//
//   compute_s       the union of the compute intervals
//   comm_s          the union of the communication intervals
//   exposed_comm_s  communication while no compute ran: what overlap did not hide. The CPU path
//                   counts the time its thread was blocked on all-reduces; on a GPU nothing
//                   blocks the host, so the same figure is read off the two streams.
//   comm_span_s     first communication start to last communication end (for busbw)
#pragma once

#include <vector>

namespace loom::train {

struct Interval {
  double begin = 0, end = 0;
};

struct TimelineFigures {
  double compute_s = 0, comm_s = 0, exposed_comm_s = 0, comm_span_s = 0;
};

// Intervals may overlap and come in any order; empty or reversed ones count for nothing.
TimelineFigures AccountTimeline(std::vector<Interval> compute, std::vector<Interval> comm);

// The union of `v` as sorted, disjoint intervals.
std::vector<Interval> UnionOf(std::vector<Interval> v);

}  // namespace loom::train
