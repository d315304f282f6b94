// The GPU trainer's host-side plans, on CPU: gradient buckets, the device memory plan and the
// step timeline's accounting.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/train/bucket_plan.h"
#include "kernels/train/device_memory.h"
#include "kernels/train/init_hash.h"
#include "kernels/train/param_layout.h"
#include "kernels/train/step_schedule.h"
#include "kernels/train/step_timeline.h"

namespace loom::train {
namespace {

ModelShape Tiny() { return {"tiny", 4, 64, 4, 32, 256, 2}; }

// The buckets tile [0, total) in some order, each range once.
void ExpectTiles(const std::vector<GradBucket>& plan, int64_t total) {
  std::vector<GradBucket> sorted = plan;
  std::sort(sorted.begin(), sorted.end(),
            [](const GradBucket& a, const GradBucket& b) { return a.begin < b.begin; });
  int64_t at = 0;
  for (const GradBucket& b : sorted) {
    EXPECT_EQ(b.begin, at);
    EXPECT_GT(b.end, b.begin);
    at = b.end;
  }
  EXPECT_EQ(at, total);
}

TEST(GradBucketPlanTest, OneBucketPerLayerWhenBucketSizeIsZero) {
  const ParamLayout layout = LayoutOf(Tiny());
  const auto plan = PlanGradBuckets(layout, 0);
  ASSERT_EQ(plan.size(), 5u);  // embedding, layers 3, 2, 1, then layer 0 last
  EXPECT_EQ(plan[0].launch_after, GradBucket::kAfterHead);
  EXPECT_EQ(plan[0].begin, layout.embedding_offset());
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(plan[i].launch_after, 4 - i);
    EXPECT_EQ(plan[i].end - plan[i].begin, layout.layer_elems());
  }
  EXPECT_EQ(plan[4].launch_after, GradBucket::kAfterLookup);
  EXPECT_EQ(plan[4].begin, layout.LayerOffset(0));
  ExpectTiles(plan, layout.total());
}

TEST(GradBucketPlanTest, GroupsLayersUpToTheBucketSize) {
  const ParamLayout layout = LayoutOf(Tiny());
  const auto plan = PlanGradBuckets(layout, 2 * layout.layer_elems());
  ASSERT_EQ(plan.size(), 3u);  // embedding, layers 3+2, layers 1+0
  EXPECT_EQ(plan[1].launch_after, 2);
  EXPECT_EQ(plan[1].end - plan[1].begin, 2 * layout.layer_elems());
  EXPECT_EQ(plan[2].launch_after, GradBucket::kAfterLookup);
  ExpectTiles(plan, layout.total());
  // A bucket larger than the model: the embedding and one bucket of every layer.
  const auto one = PlanGradBuckets(layout, layout.total() * 10);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[1].begin, 0);
  ExpectTiles(one, layout.total());
}

TEST(GradBucketPlanTest, LaunchPointsFollowBackwardOrder) {
  ModelShape s = Tiny();
  s.layers = 7;
  const ParamLayout layout = LayoutOf(s);
  for (int64_t elems : {int64_t{0}, layout.layer_elems() / 2, 3 * layout.layer_elems()}) {
    const auto plan = PlanGradBuckets(layout, elems);
    int64_t last = s.layers;  // layer indices must fall as backward goes down
    for (size_t i = 1; i + 1 < plan.size(); ++i) {
      EXPECT_LT(plan[i].launch_after, last);
      EXPECT_GT(plan[i].launch_after, 0);
      last = plan[i].launch_after;
    }
    ExpectTiles(plan, layout.total());
  }
}

// Position of the first op of `kind` (and `index`, unless -2) in `ops`; -1 if absent.
int64_t PositionOf(const std::vector<StepOp>& ops, StepOp::Kind kind, int64_t index = -2) {
  for (size_t p = 0; p < ops.size(); ++p)
    if (ops[p].kind == kind && (index == -2 || ops[p].index == index)) return static_cast<int64_t>(p);
  return -1;
}

TEST(StepScheduleTest, EveryBucketStartsAfterItsGradientsAndIsWaitedForBeforeItsUpdate) {
  for (int64_t layers : {1, 2, 5}) {
    ModelShape s = Tiny();
    s.layers = layers;
    const ParamLayout layout = LayoutOf(s);
    for (int64_t elems : {int64_t{0}, layout.layer_elems() * 2, layout.total()}) {
      const auto buckets = PlanGradBuckets(layout, elems);
      const auto ops = PlanStepSchedule(buckets, layers, true);
      const int64_t gather = PositionOf(ops, StepOp::kGatherLookup);
      const int64_t wait_gather = PositionOf(ops, StepOp::kWaitGather);
      const int64_t scatter = PositionOf(ops, StepOp::kLookupScatter);
      ASSERT_GE(gather, 0);
      EXPECT_LT(gather, wait_gather);
      EXPECT_LT(wait_gather, scatter);
      for (size_t i = 0; i < buckets.size(); ++i) {
        const int64_t b = static_cast<int64_t>(i);
        const int64_t launch = PositionOf(ops, StepOp::kLaunchBucket, b);
        ASSERT_GE(launch, 0) << "bucket " << i << " never starts";
        EXPECT_EQ(std::count_if(ops.begin(), ops.end(), [&](const StepOp& o) {
                    return o.kind == StepOp::kLaunchBucket && o.index == b;
                  }), 1);
        for (int64_t l = 0; l < layers; ++l) {
          const int64_t lo = layout.LayerOffset(l), hi = lo + layout.layer_elems();
          if (hi <= buckets[i].begin || lo >= buckets[i].end) continue;  // not in this bucket
          EXPECT_LT(PositionOf(ops, StepOp::kLayerBackward, l), launch) << "layer " << l;
        }
        if (buckets[i].end == layout.total()) {  // the embedding's
          EXPECT_LT(PositionOf(ops, StepOp::kHeadBackward), launch);
          EXPECT_LT(launch, gather);  // reduced before the scatter-add lands on it
        }
        const int64_t update = PositionOf(ops, StepOp::kUpdate, b);
        ASSERT_GE(update, 1);
        EXPECT_EQ(ops[update - 1].kind, StepOp::kWaitBucket);
        EXPECT_EQ(ops[update - 1].index, b);
        EXPECT_GT(update, scatter);  // the embedding's gradient is complete only then
      }
      EXPECT_EQ(PositionOf(ops, StepOp::kUpdate, -1), -1);
    }
  }
}

TEST(StepScheduleTest, OneRankHasNoCommunicationAndOneUpdate) {
  const ParamLayout layout = LayoutOf(Tiny());
  const auto ops = PlanStepSchedule(PlanGradBuckets(layout, 0), Tiny().layers, false);
  for (const StepOp& o : ops) {
    EXPECT_NE(o.kind, StepOp::kLaunchBucket);
    EXPECT_NE(o.kind, StepOp::kGatherLookup);
    EXPECT_NE(o.kind, StepOp::kWaitBucket);
  }
  EXPECT_EQ(ops.back().kind, StepOp::kUpdate);
  EXPECT_EQ(ops.back().index, -1);
  EXPECT_LT(PositionOf(ops, StepOp::kLayerBackward, 0), PositionOf(ops, StepOp::kLookupScatter));
  EXPECT_EQ(ops.front().kind, StepOp::kForward);
}

TEST(DeviceMemoryPlanTest, RegionsAreAlignedDisjointAndAddUp) {
  const ModelShape s = Tiny();
  const DeviceMemoryPlan p = PlanDeviceMemory(s, 2, true);
  EXPECT_EQ(p.params, ParameterCount(s));
  EXPECT_EQ(p.total_bytes, p.state_bytes + p.activation_bytes + p.scratch_bytes);
  EXPECT_EQ(p.layers.size(), 4u);
  std::vector<int64_t> offsets = {p.weights, p.master, p.grads, p.adam_m, p.adam_v, p.tokens,
                                  p.all_grads, p.scores, p.logits, p.d_up_f32};
  for (const LayerRegions& l : p.layers)
    for (int64_t o : {l.input, l.q, l.k, l.v, l.probs, l.context, l.h1, l.up, l.gelu})
      offsets.push_back(o);
  std::sort(offsets.begin(), offsets.end());
  EXPECT_TRUE(std::adjacent_find(offsets.begin(), offsets.end()) == offsets.end());
  for (int64_t o : offsets) {
    EXPECT_EQ(o % DeviceMemoryPlan::kAlign, 0);
    EXPECT_LT(o, p.total_bytes);
  }
  // bf16 weights then fp32 master: the master starts after 2 bytes per parameter (rounded).
  EXPECT_GE(p.master - p.weights, 2 * p.params);
  EXPECT_LT(p.master - p.weights, 2 * p.params + DeviceMemoryPlan::kAlign);
}

TEST(DeviceMemoryPlanTest, SgdHoldsNoMomentsAndStateIsEighteenOrTenBytesPerParameter) {
  const ModelShape s = Tiny();
  const DeviceMemoryPlan adam = PlanDeviceMemory(s, 1, true);
  const DeviceMemoryPlan sgd = PlanDeviceMemory(s, 1, false);
  EXPECT_EQ(sgd.adam_m, -1);
  EXPECT_NEAR(static_cast<double>(adam.state_bytes) / adam.params, 18.0, 0.01);
  EXPECT_NEAR(static_cast<double>(sgd.state_bytes) / sgd.params, 10.0, 0.01);
  EXPECT_EQ(adam.activation_bytes, sgd.activation_bytes);
}

TEST(DeviceMemoryPlanTest, Full7BDoesNotFitAnH200ButItsLayersDo) {
  auto s = Preset("7B");
  ASSERT_TRUE(s.ok());
  const int64_t h200 = int64_t{139} << 30;  // what the card reports free, about
  const Status st = CheckFitsOnDevice(*s, 1, true, h200);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("layers of this width fit"), std::string::npos) << st.message();
  const int64_t fit = LayersThatFit(*s, 1, true, h200);
  EXPECT_GT(fit, 8);
  EXPECT_LT(fit, s->layers);
  ModelShape cut = *s;
  cut.layers = fit;
  EXPECT_TRUE(CheckFitsOnDevice(cut, 1, true, h200).ok());
  cut.layers = fit + 1;
  EXPECT_FALSE(CheckFitsOnDevice(cut, 1, true, h200).ok());
  EXPECT_EQ(LayersThatFit(*s, 1, true, kDeviceReserveBytes / 2), 0);
}

TEST(StepTimelineTest, ExposedCommunicationIsWhatNoComputeCovers) {
  // Compute [0,10) and [12,20); comm [5,14): 2 of its 9 s fall in the compute gap.
  const TimelineFigures f = AccountTimeline({{0, 10}, {12, 20}}, {{5, 14}});
  EXPECT_DOUBLE_EQ(f.compute_s, 18);
  EXPECT_DOUBLE_EQ(f.comm_s, 9);
  EXPECT_DOUBLE_EQ(f.exposed_comm_s, 2);
  EXPECT_DOUBLE_EQ(f.comm_span_s, 9);
}

TEST(StepTimelineTest, OverlappingAndUnorderedIntervalsCountOnce) {
  const TimelineFigures f =
      AccountTimeline({{4, 6}, {0, 5}, {3, 3}, {9, 8}}, {{7, 9}, {1, 2}, {8, 10}});
  EXPECT_DOUBLE_EQ(f.compute_s, 6);        // [0,6); the empty and reversed ones are nothing
  EXPECT_DOUBLE_EQ(f.comm_s, 4);           // [1,2) and [7,10)
  EXPECT_DOUBLE_EQ(f.exposed_comm_s, 3);   // [7,10)
  EXPECT_DOUBLE_EQ(f.comm_span_s, 9);      // 1 to 10
  EXPECT_DOUBLE_EQ(AccountTimeline({{0, 1}}, {}).exposed_comm_s, 0);
  const auto u = UnionOf({{2, 3}, {0, 1}, {1, 2}});
  ASSERT_EQ(u.size(), 1u);
  EXPECT_DOUBLE_EQ(u[0].end, 3);
}

TEST(InitialWeightTest, IsNormalWithStdTwoHundredthsAndAFunctionOfSeedAndIndex) {
  const int64_t n = 1 << 20;
  const std::vector<float> w = InitialWeights(n, 1);
  double sum = 0, sq = 0;
  for (float x : w) {
    ASSERT_TRUE(std::isfinite(x));
    sum += x, sq += double(x) * x;
  }
  const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 1e-4);
  EXPECT_NEAR(sd, 0.02, 2e-4);
  // About 4.6% beyond two standard deviations, as a normal distribution has.
  const auto tails = std::count_if(w.begin(), w.end(), [](float x) { return std::fabs(x) > 0.04f; });
  EXPECT_NEAR(double(tails) / n, 0.0455, 0.003);
  EXPECT_EQ(w[12345], InitialWeight(1, 12345));
  EXPECT_NE(InitialWeight(1, 7), InitialWeight(2, 7));
  EXPECT_NE(w[0], w[1]);
}

}  // namespace
}  // namespace loom::train
