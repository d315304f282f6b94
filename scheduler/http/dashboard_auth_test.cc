// The dashboard's token check over real HTTP on loopback, with a fake token store.
#include "scheduler/http/dashboard_auth.h"

#include <gtest/gtest.h>

namespace loom::http {
namespace {

DashboardAuth FakeAuth() {
  DashboardAuth a;
  a.verify = [](const std::string& token) -> StatusOr<auth::TokenInfo> {
    auth::TokenInfo info;
    if (token == "loom_1_admin") {
      info.tenant = "ops";
      info.admin = true;
      return info;
    }
    if (token == "loom_2_alice") {
      info.tenant = "alice";
      return info;
    }
    return Unauthenticated("unknown token");
  };
  return a;
}

class DashboardAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const DashboardAuth auth = FakeAuth();
    std::vector<Route> routes = Guard({
        {"/metrics", [](const Request&) { return Reply{200, "text/plain", "loom_up 1\n"}; }},
        {"/api/queue", [](const Request&) { return Reply{200, "application/json", "[]"}; }},
        {"/", [](const Request&) { return Reply{200, "text/html", "<div data-page=\"queue\"></div>"}; }},
    }, auth);
    for (Route& r : LoginRoutes(auth)) routes.push_back(std::move(r));
    auto server = HttpServer::Start("127.0.0.1:0", std::move(routes));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    base_ = server_->url();
  }
  Response GetAs(const std::string& path, const std::map<std::string, std::string>& headers = {}) {
    auto r = Fetch("GET", base_ + path, headers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Response{};
  }
  Response PostForm(const std::string& path, const std::string& form) {
    auto r = Fetch("POST", base_ + path, {}, form);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Response{};
  }
  std::unique_ptr<HttpServer> server_;
  std::string base_;
};

TEST(RequestTokenTest, BearerHeaderElseTheCookie) {
  Request r;
  EXPECT_EQ(RequestToken(r), "");
  r.headers["cookie"] = "theme=dark; loom_token=loom_1_admin; other=x";
  EXPECT_EQ(RequestToken(r), "loom_1_admin");
  r.headers["cookie"] = "xloom_token=forged";
  EXPECT_EQ(RequestToken(r), "");
  r.headers["authorization"] = "Bearer loom_2_alice";
  EXPECT_EQ(RequestToken(r), "loom_2_alice");
  r.headers["authorization"] = "Basic dXNlcjpwYXNz";
  EXPECT_EQ(RequestToken(r), "");
}

TEST(RequestTokenTest, OnlyLocalPathsAreWhereALoginReturns) {
  EXPECT_TRUE(SafeNext("/"));
  EXPECT_TRUE(SafeNext("/#/queue"));
  EXPECT_FALSE(SafeNext(""));
  EXPECT_FALSE(SafeNext("//evil.example/"));
  EXPECT_FALSE(SafeNext("/\\evil.example"));
  EXPECT_FALSE(SafeNext("http://evil.example/"));
  EXPECT_FALSE(SafeNext("/\r\nSet-Cookie: x=y"));
}

TEST_F(DashboardAuthTest, ApiNeedsAnAdminToken) {
  Response none = GetAs("/api/queue");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer realm=\"loom\"");
  EXPECT_NE(none.body.find("\"error\""), std::string::npos);
  EXPECT_EQ(GetAs("/api/queue", {{"Authorization", "Bearer loom_9_wrong"}}).status, 401);
  Response tenant = GetAs("/api/queue", {{"Authorization", "Bearer loom_2_alice"}});
  EXPECT_EQ(tenant.status, 403);
  EXPECT_NE(tenant.body.find("needs an admin token (tenant alice is not admin)"), std::string::npos) << tenant.body;
  Response admin = GetAs("/api/queue", {{"Authorization", "Bearer loom_1_admin"}});
  EXPECT_EQ(admin.status, 200);
  EXPECT_EQ(admin.body, "[]");
}

TEST_F(DashboardAuthTest, PagesShowTheLoginFormAndMetricsStayOpen) {
  Response page = GetAs("/");
  EXPECT_EQ(page.status, 401);
  EXPECT_NE(page.body.find("data-page=\"login\""), std::string::npos);
  EXPECT_EQ(page.body.find("data-page=\"queue\""), std::string::npos);  // nothing of the page itself
  Response metrics = GetAs("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.body, "loom_up 1\n");
}

TEST_F(DashboardAuthTest, LoginSetsAnHttpOnlyCookieThatOpensThePages) {
  Response bad = PostForm("/login", "token=loom_9_wrong&next=%2F");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.headers.count("set-cookie"), 0u);
  EXPECT_NE(bad.body.find("unknown token"), std::string::npos);

  Response ok = PostForm("/login", "token=loom_1_admin&next=%2F%23%2Fqueue");
  EXPECT_EQ(ok.status, 303);
  EXPECT_EQ(ok.headers["location"], "/#/queue");
  const std::string cookie = ok.headers["set-cookie"];
  EXPECT_NE(cookie.find("loom_token=loom_1_admin"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  Response page = GetAs("/", {{"Cookie", "loom_token=loom_1_admin"}});
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("data-page=\"queue\""), std::string::npos);

  EXPECT_EQ(PostForm("/login", "token=loom_2_alice").status, 403);  // a tenant's token: no cookie
  // The one-click link `loom up` prints; a `next` off this host falls back to the front page.
  Response link = GetAs("/login?token=loom_1_admin&next=%2F%2Fevil.example%2F");
  EXPECT_EQ(link.status, 303);
  EXPECT_EQ(link.headers["location"], "/");
  Response out = GetAs("/logout", {{"Cookie", "loom_token=loom_1_admin"}});
  EXPECT_EQ(out.status, 303);
  EXPECT_NE(out.headers["set-cookie"].find("Max-Age=0"), std::string::npos);
}

}  // namespace
}  // namespace loom::http
