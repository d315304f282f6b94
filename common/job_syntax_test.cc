#include "common/job_syntax.h"

#include <gtest/gtest.h>

namespace loom {
namespace {

TEST(ArraySpecTest, ParsesSbatchForms) {
  struct Case {
    const char* text;
    std::vector<int> tasks;
    int max_running;
  };
  const Case cases[] = {
      {"0-3", {0, 1, 2, 3}, 0},
      {"0-99%8", {}, 8},  // tasks checked by size below
      {"1,3,5-7", {1, 3, 5, 6, 7}, 0},
      {"0-15:4", {0, 4, 8, 12}, 0},
      {"7", {7}, 0},
      {"3,1,1-2", {1, 2, 3}, 0},  // overlaps merge, order does not matter
      {"0-9:4%2", {0, 4, 8}, 2},
      {"99999", {99999}, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto spec = ParseArraySpec(c.text);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    if (std::string(c.text) == "0-99%8") {
      EXPECT_EQ(spec->tasks.size(), 100u);
      EXPECT_EQ(spec->tasks.front(), 0);
      EXPECT_EQ(spec->tasks.back(), 99);
    } else {
      EXPECT_EQ(spec->tasks, c.tasks);
    }
    EXPECT_EQ(spec->max_running, c.max_running);
  }
}

TEST(ArraySpecTest, RefusesBadSpecsWithOneLine) {
  for (const char* text : {"", "%4", "0-3%0", "0-3%", "a-b", "3-1", "1,,2", "-1", "0-100000", "100000",
                           "0-9:0", "5:2", "0-3%x", "1-2-3", " 1"}) {
    SCOPED_TRACE(text);
    auto spec = ParseArraySpec(text);
    ASSERT_FALSE(spec.ok());
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(spec.status().message().find('\n'), std::string::npos);
    EXPECT_NE(spec.status().message().find("--array"), std::string::npos);
  }
  auto big = ParseArraySpec("0-100000");
  EXPECT_NE(big.status().message().find("MaxArraySize"), std::string::npos);
}

TEST(ArraySpecTest, FormatsRanges) {
  EXPECT_EQ(FormatTaskRanges({5, 6, 7, 99}), "5-7,99");
  EXPECT_EQ(FormatTaskRanges({1, 3, 5, 6, 7}), "1,3,5-7");
  EXPECT_EQ(FormatTaskRanges({0, 4, 8}), "0,4,8");
  EXPECT_EQ(FormatTaskRanges({}), "");
}

TEST(DependencySpecTest, ParsesTerms) {
  using T = DependencyTerm;
  auto terms = ParseDependencySpec("afterok:12:13,afterany:14_2,afternotok:15,singleton");
  ASSERT_TRUE(terms.ok()) << terms.status().ToString();
  const std::vector<T> want = {{T::kAfterOk, 12, std::nullopt},
                               {T::kAfterOk, 13, std::nullopt},
                               {T::kAfterAny, 14, 2},
                               {T::kAfterNotOk, 15, std::nullopt},
                               {T::kSingleton, 0, std::nullopt}};
  EXPECT_EQ(*terms, want);
}

TEST(DependencySpecTest, RefusesBadSpecs) {
  for (const char* text : {"", "afterok", "afterok:", "afterok:x", "after:12", "afterok:12,", "singleton:3",
                           "afterok:0", "afterok:-1", "afterok:12_x", "AFTEROK:12"}) {
    SCOPED_TRACE(text);
    auto terms = ParseDependencySpec(text);
    ASSERT_FALSE(terms.ok());
    EXPECT_EQ(terms.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(terms.status().message().find("--dependency"), std::string::npos);
  }
}

TEST(JobRefTest, ParsesIdsAndTasks) {
  auto a = ParseJobRef("12");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->job_id, 12);
  EXPECT_FALSE(a->array_task.has_value());
  auto b = ParseJobRef("12_7");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->job_id, 12);
  EXPECT_EQ(b->array_task, 7);
  for (const char* text : {"", "0", "x", "12_", "_7", "12_7_1", "12x"}) EXPECT_FALSE(ParseJobRef(text).ok()) << text;
}

}  // namespace
}  // namespace loom
