#include "common/http/http_server.h"

#include <gtest/gtest.h>

namespace loom::http {
namespace {

TEST(SplitListen, HostAndPort) {
  EXPECT_EQ(*SplitListen("127.0.0.1:9100"), std::make_pair(std::string("127.0.0.1"), 9100));
  EXPECT_EQ(*SplitListen("[::1]:0"), std::make_pair(std::string("::1"), 0));
  EXPECT_FALSE(SplitListen("127.0.0.1").ok());
  EXPECT_FALSE(SplitListen("127.0.0.1:").ok());
  EXPECT_FALSE(SplitListen("127.0.0.1:70000").ok());
  EXPECT_FALSE(SplitListen("127.0.0.1:9x").ok());
}

TEST(HttpServer, ServesRoutesWithGroupsAndParams) {
  auto server = HttpServer::Start("127.0.0.1:0", {
      {"/hello", [](const Request&) { return Reply{200, "text/plain", "hi"}; }},
      {"/jobs/(\\d+)", [](const Request& r) {
         auto it = r.params.find("tail");
         return Reply{200, "text/plain", "job " + r.matches[1] + " tail " + (it == r.params.end() ? "-" : it->second)};
       }},
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_GT((*server)->port(), 0);
  std::string base = (*server)->url();
  EXPECT_EQ(*Get(base + "/hello"), "hi");
  EXPECT_EQ(*Get(base + "/jobs/42?tail=5"), "job 42 tail 5");
  auto missing = Get(base + "/nothing");
  EXPECT_EQ(missing.status().code(), StatusCode::kInternal);
}

TEST(HttpServer, BusyPortIsOneClearError) {
  auto first = HttpServer::Start("127.0.0.1:0", {});
  ASSERT_TRUE(first.ok());
  auto second = HttpServer::Start("127.0.0.1:" + std::to_string((*first)->port()), {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen for HTTP on 127.0.0.1:"), std::string::npos);
}

TEST(HttpServer, StoppedServerNoLongerAnswers) {
  std::string url;
  {
    auto server = HttpServer::Start("127.0.0.1:0", {{"/x", [](const Request&) { return Reply{200, "text/plain", "x"}; }}});
    ASSERT_TRUE(server.ok());
    url = (*server)->url() + "/x";
    EXPECT_TRUE(Get(url).ok());
  }
  EXPECT_EQ(Get(url, 2).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace loom::http
