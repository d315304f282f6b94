#include "cli/job_file.h"

#include <gtest/gtest.h>

#include <csignal>

namespace loom::cli {
namespace {

TEST(JobFileTest, FullSpecParses) {
  auto spec = ParseJobFile(R"(
name: pretrain
tenant: research
gpus: 16
gpus_per_node: 8
tasks_per_node: 1
time: 2h
priority: 3
qos: 2
leaf: prefer-one
leaf_wait: 10m
mpi: true
command: [python, train.py, --steps, "100"]
env: {NCCL_DEBUG: INFO}
workdir: /data
)", "job.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name(), "pretrain");
  EXPECT_EQ(spec->gpus(), 16);
  EXPECT_EQ(spec->gpus_per_node(), 8);
  EXPECT_EQ(spec->tasks_per_node(), 1);
  EXPECT_EQ(spec->time_limit_s(), 7200);
  EXPECT_TRUE(spec->mpi());
  EXPECT_EQ(spec->qos(), 2);
  EXPECT_EQ(spec->leaf(), v1::LEAF_PREFER_ONE);
  EXPECT_EQ(spec->leaf_wait_s(), 600);
  ASSERT_EQ(spec->command_size(), 4);
  EXPECT_EQ(spec->command(3), "100");
  EXPECT_EQ(spec->env().at("NCCL_DEBUG"), "INFO");
}

TEST(JobFileTest, StringCommandRunsThroughTheShell) {
  auto spec = ParseJobFile("gpus: 1\ncommand: echo $RANK > out\n", "j.yaml");
  ASSERT_TRUE(spec.ok());
  ASSERT_EQ(spec->command_size(), 3);
  EXPECT_EQ(spec->command(0), "/bin/sh");
  EXPECT_EQ(spec->command(2), "echo $RANK > out");
}

void ExpectError(const std::string& text, const std::string& fragment) {
  auto spec = ParseJobFile(text, "job.yaml");
  ASSERT_FALSE(spec.ok()) << text;
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find(fragment), std::string::npos) << spec.status().message();
  EXPECT_EQ(spec.status().message().find('\n'), std::string::npos) << "errors are one line";
}

TEST(JobFileTest, ErrorsNameTheLineAndTheProblem) {
  ExpectError("gpus: 4\ngpu_per_node: 2\n", "job.yaml:2: unknown field 'gpu_per_node' (did you mean 'gpus_per_node'?)");
  ExpectError("gpus: 4\nfoo: 1\n", "unknown field 'foo'");
  ExpectError("gpus: four\n", "job.yaml:1: field 'gpus' must be an integer");
  ExpectError("gpus: 1\nmpi: maybe\n", "field 'mpi' must be true or false");
  ExpectError("gpus: 1\ntime: 2x\n", "job.yaml:2: invalid time '2x'");
  ExpectError("gpus: 1\nleaf: two\n", "job.yaml:2: field 'leaf' must be fewest, prefer-one or require-one");
  ExpectError("gpus: [1, 2\n", "malformed YAML");
  ExpectError("- just\n- a list\n", "must be a YAML mapping");
  ExpectError("command: {a: b}\n", "field 'command' must be a string or a list of strings");
}

TEST(JobFileTest, SignalGraceAndRequeueFields) {
  auto spec = ParseJobFile("command: train\ntime: 2h\nsignal: USR1@120\ngrace: 2m\nmax_requeues: 3\nno_requeue: true\n", "j.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->signal(), SIGUSR1);
  EXPECT_EQ(spec->signal_before_s(), 120);
  EXPECT_EQ(spec->grace_s(), 120);
  ASSERT_TRUE(spec->has_max_requeues());
  EXPECT_EQ(spec->max_requeues(), 3);
  EXPECT_TRUE(spec->no_requeue());
  auto bad = ParseJobFile("command: train\nmax_requeues: -1\n", "j.yaml");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("j.yaml:2"), std::string::npos) << bad.status().message();
  bad = ParseJobFile("command: train\nsignal: BOGUS@10\n", "j.yaml");
  EXPECT_NE(bad.status().message().find("unknown signal 'BOGUS'"), std::string::npos) << bad.status().message();
}

TEST(JobFileTest, HoldDependencyAndArrayFields) {
  auto spec = ParseJobFile("command: /bin/true\nhold: true\ndependency: afterok:3:4,singleton\narray: 0-9%2\n", "j.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(spec->hold());
  ASSERT_EQ(spec->dependencies_size(), 3);
  EXPECT_EQ(spec->dependencies(1).job_id(), 4);
  EXPECT_EQ(spec->array(), "0-9%2");
  auto bad = ParseJobFile("command: /bin/true\narray: 9-1\n", "j.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("j.yaml:2"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(ParseJobFile("command: /bin/true\ndependency: after:3\n", "j.yaml").ok());
}

TEST(SignalSpecTest, NamesNumbersAndSecondsInEveryForm) {
  v1::JobSpec spec;
  ASSERT_TRUE(ParseSignalSpec("USR1@120", spec).ok());
  EXPECT_EQ(spec.signal(), SIGUSR1);
  EXPECT_EQ(spec.signal_before_s(), 120);  // plain seconds, not --time's minutes
  ASSERT_TRUE(ParseSignalSpec("sigterm@2m", spec).ok());
  EXPECT_EQ(spec.signal(), SIGTERM);
  EXPECT_EQ(spec.signal_before_s(), 120);
  ASSERT_TRUE(ParseSignalSpec("10@90s", spec).ok());
  EXPECT_EQ(spec.signal(), 10);
  EXPECT_EQ(spec.signal_before_s(), 90);
  for (const char* bad : {"USR1", "NOPE@10", "USR1@0", "USR1@-5", "USR1@x", "KILL@10", "99@10", "@10"}) {
    v1::JobSpec untouched;
    EXPECT_EQ(ParseSignalSpec(bad, untouched).code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(untouched.signal(), 0) << bad;
  }
  ASSERT_TRUE(ParseGrace("2m", spec).ok());
  EXPECT_EQ(spec.grace_s(), 120);
  ASSERT_TRUE(ParseGrace("45", spec).ok());
  EXPECT_EQ(spec.grace_s(), 45);
  EXPECT_NE(ParseGrace("-5s", spec).message().find("must not be negative"), std::string::npos);
  EXPECT_FALSE(ParseGrace("soon", spec).ok());
  v1::JobSpec r;
  EXPECT_TRUE(CheckRequeue(r).ok());
  r.set_max_requeues(0);
  EXPECT_TRUE(CheckRequeue(r).ok());
  r.set_max_requeues(-1);
  EXPECT_FALSE(CheckRequeue(r).ok());
}

}  // namespace
}  // namespace loom::cli
