#include "worker/launch_fence.h"

#include <gtest/gtest.h>

namespace loom::worker {
namespace {

TEST(LaunchFenceTest, AdmitsOnlyTheCurrentRegistration) {
  LaunchFence f;
  EXPECT_TRUE(f.Admit(0, 0).ok());  // before any registration: unstamped launches (tests, old loomd)
  f.Begin(7);
  EXPECT_EQ(f.Admit(6, 1).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(f.Admit(0, 1).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(f.Admit(7, 1).ok());
}

TEST(LaunchFenceTest, TheMarkIsContiguousWhateverTheArrivalOrder) {
  LaunchFence f;
  f.Begin(7);
  EXPECT_TRUE(f.Admit(7, 2).ok());
  EXPECT_TRUE(f.Admit(7, 4).ok());
  EXPECT_EQ(f.mark(), 0u);  // 1 may still come: an attempt launched as 1 is not known absent
  EXPECT_TRUE(f.Admit(7, 1).ok());
  EXPECT_EQ(f.mark(), 2u);
  f.Note(7, 3);  // a repeat of an attempt already running here
  EXPECT_EQ(f.mark(), 4u);
  f.Note(6, 5);  // another registration's numbers do not count
  EXPECT_EQ(f.mark(), 4u);
}

TEST(LaunchFenceTest, ALaunchAtOrBelowTheFenceIsRefusedAndTheMarkJumpsToIt) {
  LaunchFence f;
  f.Begin(7);
  EXPECT_TRUE(f.Admit(7, 1).ok());
  f.ApplyFence(7, 3);  // loomd is done with 2 and 3 (it gave up on them) without their arriving
  EXPECT_EQ(f.mark(), 3u);
  EXPECT_EQ(f.Admit(7, 2).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(f.Admit(7, 3).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(f.Admit(7, 5).ok());
  EXPECT_EQ(f.mark(), 3u);
  EXPECT_TRUE(f.Admit(7, 4).ok());
  EXPECT_EQ(f.mark(), 5u);
  f.ApplyFence(7, 2);  // an older fence (a slower reply) moves nothing back
  EXPECT_EQ(f.mark(), 5u);
  f.ApplyFence(6, 9);  // nor does another registration's
  EXPECT_EQ(f.mark(), 5u);
  EXPECT_TRUE(f.Admit(7, 6).ok());
}

TEST(LaunchFenceTest, ALostLeaseRefusesEverythingUntilTheNextRegistration) {
  LaunchFence f;
  f.Begin(7);
  f.Drop();
  EXPECT_TRUE(f.dropped());
  EXPECT_EQ(f.Admit(7, 1).code(), StatusCode::kFailedPrecondition);
  f.Begin(8);
  EXPECT_FALSE(f.dropped());
  EXPECT_EQ(f.mark(), 0u);  // numbering starts again with the registration
  EXPECT_TRUE(f.Admit(8, 1).ok());
  EXPECT_EQ(f.mark(), 1u);
}

}  // namespace
}  // namespace loom::worker
