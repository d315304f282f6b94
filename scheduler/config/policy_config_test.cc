#include "scheduler/config/policy_config.h"

#include <gtest/gtest.h>

#include <fstream>

namespace loom::sched {
namespace {

std::string ErrorOf(const std::string& yaml) {
  auto config = ParsePolicyConfig(yaml, "bad.yaml");
  return config.ok() ? "" : config.status().message();
}

TEST(PolicyConfigTest, ShippedExampleSetsEverySection) {
  auto config = LoadPolicyConfig(std::string(LOOM_POLICY_CONFIG_DIR) + "/fair-share.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->policy, "multifactor-backfill");
  const PolicySettings& s = config->settings;
  EXPECT_EQ(s.weights.fair_share, 10000);
  EXPECT_EQ(s.weights.max_age_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_EQ(s.fair_share.half_life_ms, 7LL * 24 * 3600 * 1000);
  ASSERT_EQ(s.fair_share.tenants.size(), 3u);
  EXPECT_EQ(s.fair_share.tenants.at("pretraining").weight, 6);
  EXPECT_EQ(s.fair_share.tenants.at("pretraining").gpu_quota, 0);
  EXPECT_EQ(s.fair_share.tenants.at("research").gpu_quota, 2048);
  EXPECT_TRUE(s.backfill.preemption);
  EXPECT_EQ(config->jobs.max_grace_ms, 5 * 60 * 1000);
  // The example builds a policy.
  EXPECT_TRUE(MakePolicy(config->policy, s).ok());
}

TEST(PolicyConfigTest, GivenKeysChangeAndOthersKeepTheirDefaults) {
  auto config = ParsePolicyConfig(
      "weights: {age: 0, qos: 5.5}\n"
      "fair_share: {half_life: 12h}\n"
      "tenants:\n  a: {gpu_quota: 8}\n  b: {weight: 2.5}\n"
      "backfill: {preemption: false, max_reservations: 4}\n"
      "jobs: {max_grace: 2m, max_requeues: 1}\n",
      "good.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const PolicySettings defaults;
  const PolicySettings& s = config->settings;
  EXPECT_EQ(config->policy, "");  // none named: loomd's --policy or its default
  EXPECT_EQ(s.weights.age, 0);
  EXPECT_EQ(s.weights.qos, 5.5);
  EXPECT_EQ(s.weights.fair_share, defaults.weights.fair_share);
  EXPECT_EQ(s.weights.max_qos, defaults.weights.max_qos);
  EXPECT_EQ(s.fair_share.half_life_ms, 12 * 3600 * 1000);
  EXPECT_EQ(s.fair_share.default_weight, defaults.fair_share.default_weight);
  EXPECT_EQ(s.fair_share.tenants.at("a").weight, 1.0);
  EXPECT_EQ(s.fair_share.tenants.at("a").gpu_quota, 8);
  EXPECT_EQ(s.fair_share.tenants.at("b").weight, 2.5);
  EXPECT_FALSE(s.backfill.preemption);
  EXPECT_EQ(s.backfill.max_reservations, 4);
  EXPECT_EQ(s.backfill.max_preemption_plans, defaults.backfill.max_preemption_plans);
  EXPECT_EQ(config->jobs.max_grace_ms, 120'000);
  EXPECT_EQ(config->jobs.grace_ms, JobLimits{}.grace_ms);
  EXPECT_EQ(config->jobs.max_requeues, 1);
  EXPECT_TRUE(ParsePolicyConfig("", "empty.yaml").ok());
}

TEST(PolicyConfigTest, EachKindOfErrorIsOneLineNamingTheKey) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  for (const Case& c : {
           Case{"weights: {age: 1, fairshare: 2}\n", "bad.yaml: weights: unknown field 'fairshare'"},
           Case{"policys: fifo\n", "bad.yaml: unknown field 'policys'"},
           Case{"jobs: {grace: 5m, max_grace: 1m}\n", "bad.yaml: jobs.grace: must not exceed max_grace"},
           Case{"jobs: {max_requeues: -1}\n", "bad.yaml: jobs.max_requeues: must not be negative"},
           Case{"tenants:\n  a: {weight: 1, quota: 4}\n", "bad.yaml: tenants.a: unknown field 'quota'"},
           Case{"weights: {job_size: -1}\n", "bad.yaml: weights.job_size: must not be negative"},
           Case{"weights: {age: .inf}\n", "bad.yaml: weights.age: must be a finite number"},
           Case{"tenants:\n  a: {weight: -2}\n", "bad.yaml: tenants.a.weight: must not be negative"},
           Case{"tenants:\n  a: {gpu_quota: -8}\n", "bad.yaml: tenants.a.gpu_quota: must not be negative"},
           Case{"tenants:\n  a: {gpu_quota: 1.5}\n", "bad.yaml: tenants.a.gpu_quota: '1.5' is not a valid value"},
           Case{"tenants: [a, b]\n", "bad.yaml: tenants: expected a mapping"},
           Case{"tenants:\n  a: 3\n", "bad.yaml: tenants.a: expected a mapping"},
           Case{"tenants:\n  ? {x: 1}\n  : {weight: 1}\n", "bad.yaml: tenants: a key must be a plain name, not '{x: 1}'"},
           Case{"fair_share: {half_life: soon}\n", "bad.yaml: fair_share.half_life: invalid time 'soon'"},
           Case{"fair_share: {half_life: 0s}\n", "bad.yaml: fair_share.half_life: must be positive"},
           Case{"fair_share: {default_weight: -1}\n", "bad.yaml: fair_share.default_weight: must not be negative"},
           Case{"weights: {max_qos: 0}\n", "bad.yaml: weights.max_qos: must be positive"},
           Case{"backfill: {preemption: maybe}\n", "bad.yaml: backfill.preemption: 'maybe' is not a valid value"},
           Case{"backfill: {max_reservations: -1}\n", "bad.yaml: backfill.max_reservations: must not be negative"},
           Case{"backfill: 3\n", "bad.yaml: backfill: expected a mapping"},
           Case{"policy: fastest\n", "bad.yaml: policy: unknown policy 'fastest' (known: "},
           Case{"- a\n- b\n", "bad.yaml: expected a mapping"},
           Case{"weights: {age: [1\n", "bad.yaml: line "},
       }) {
    const std::string error = ErrorOf(c.yaml);
    EXPECT_EQ(error.rfind(c.error, 0), 0u) << c.yaml << " -> " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  auto missing = LoadPolicyConfig("/nonexistent/policy.yaml");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("cannot open the policy config"), std::string::npos);
}

}  // namespace
TEST(PolicyConfigTest, TenantLimitsOverrideTheDefaultLimitsKeyByKey) {
  auto config = ParsePolicyConfig(
      "limits: {max_qos: 1, max_pending_jobs: 100}\n"
      "tenants:\n  prod: {max_qos: 5, max_priority: 50}\n  batch: {weight: 1}\n",
      "limits.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const AdmissionLimits& a = config->admission;
  EXPECT_EQ(a.For("prod").max_qos, 5);
  EXPECT_EQ(a.For("prod").max_priority, 50);
  EXPECT_EQ(a.For("prod").max_pending_jobs, 100);
  EXPECT_EQ(a.For("batch").max_qos, 1);
  EXPECT_FALSE(a.For("batch").max_priority.has_value());
  EXPECT_EQ(a.For("unlisted").max_qos, 1);
  auto bad = ParsePolicyConfig("tenants:\n  x: {max_qos: -1}\n", "bad.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "bad.yaml: tenants.x.max_qos: must not be negative");
  EXPECT_FALSE(ParsePolicyConfig("limits: {max_qoss: 1}\n", "typo.yaml").ok());
}

}  // namespace loom::sched
