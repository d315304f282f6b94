#include "cli/client.h"

#include <gtest/gtest.h>

namespace loom::cli {
namespace {

TEST(GrpcTarget, IpLiteralsSkipTheResolver) {
  EXPECT_EQ(GrpcTarget("127.0.0.1:7817"), "ipv4:127.0.0.1:7817");
  EXPECT_EQ(GrpcTarget("[::1]:7817"), "ipv6:[::1]:7817");
}

TEST(GrpcTarget, NamesAndSchemesAreKept) {
  EXPECT_EQ(GrpcTarget("localhost:7817"), "localhost:7817");
  EXPECT_EQ(GrpcTarget("head-node:7817"), "head-node:7817");
  EXPECT_EQ(GrpcTarget("ipv4:127.0.0.1:7817"), "ipv4:127.0.0.1:7817");
  EXPECT_EQ(GrpcTarget("dns:///head:7817"), "dns:///head:7817");
  EXPECT_EQ(GrpcTarget("unix:/tmp/loomd.sock"), "unix:/tmp/loomd.sock");
  EXPECT_EQ(GrpcTarget("999.1.1.1:7817"), "999.1.1.1:7817");
  EXPECT_EQ(GrpcTarget("noport"), "noport");
}

}  // namespace
}  // namespace loom::cli
