// loom token: users' bearer tokens. Admins make them through loomd; `loom up` makes its own
// admin token straight in loomd's token file (local access to it is the root of trust).
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/paths.h"
#include "scheduler/auth/token_store.h"

namespace loom::cli {
namespace {

std::string When(int64_t ms) {
  if (ms == 0) return "never";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", std::gmtime(&t));
  return buf;
}

int Json(const google::protobuf::Message& m) {
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out).ok()) return Error("cannot encode JSON");
  std::printf("%s\n", out.c_str());
  return 0;
}

#define LOOM_TOKEN_CONNECT(client, g)                          \
  auto client##_or = Client::Connect((g).server, (g).home);    \
  if (!client##_or.ok()) return Error(client##_or.status().message()); \
  Client& client = *client##_or

}  // namespace

int TokenCreate(const Global& g, const std::string& tenant, bool admin, const std::string& expires) {
  v1::CreateTokenRequest req;
  req.set_tenant(tenant);
  req.set_admin(admin);
  if (!expires.empty()) {
    auto seconds = ParseDuration(expires);
    if (!seconds.ok()) return Error("--expires: " + seconds.status().message());
    if (*seconds <= 0) return Error("--expires must be longer than 0");
    req.set_expires_in_s(*seconds);
  }
  if (Status s = auth::ValidateTenant(tenant); !s.ok()) return Error(s.message());
  LOOM_TOKEN_CONNECT(client, g);
  v1::CreateTokenReply reply;
  if (Status s = client.Call(&v1::Scheduler::Stub::CreateToken, req, &reply); !s.ok()) return Error(s.message());
  if (g.json) return Json(reply);
  std::printf("%s\n", reply.secret().c_str());
  std::fprintf(stderr, "Token %lld for tenant %s%s, expires %s. Shown once: give it to its user as LOOM_TOKEN.\n",
               static_cast<long long>(reply.token().id()), tenant.c_str(), admin ? " (admin)" : "",
               When(reply.token().expires_ms()).c_str());
  return 0;
}

int TokenList(const Global& g) {
  LOOM_TOKEN_CONNECT(client, g);
  v1::ListTokensReply reply;
  if (Status s = client.Call(&v1::Scheduler::Stub::ListTokens, v1::ListTokensRequest(), &reply); !s.ok()) {
    return Error(s.message());
  }
  if (g.json) return Json(reply);
  Table t({"ID", "TENANT", "ADMIN", "CREATED", "EXPIRES", "STATE"});
  const int64_t now = SystemClock().NowMs();
  for (const v1::Token& tok : reply.tokens()) {
    const bool expired = tok.expires_ms() > 0 && now >= tok.expires_ms();
    t.Add({std::to_string(tok.id()), tok.tenant(), tok.admin() ? "yes" : "no", When(tok.created_ms()),
           When(tok.expires_ms()), tok.revoked() ? "revoked" : expired ? "expired" : "active"});
  }
  t.Print();
  return 0;
}

int TokenRevoke(const Global& g, const std::string& id_text) {
  char* end = nullptr;
  const long long id = std::strtoll(id_text.c_str(), &end, 10);
  if (id_text.empty() || *end != '\0' || id <= 0) return Error("token id '" + id_text + "' is not a positive number");
  LOOM_TOKEN_CONNECT(client, g);
  v1::RevokeTokenRequest req;
  req.set_id(id);
  v1::RevokeTokenReply reply;
  if (Status s = client.Call(&v1::Scheduler::Stub::RevokeToken, req, &reply); !s.ok()) return Error(s.message());
  if (!g.json) std::printf("Revoked token %lld\n", id);
  return 0;
}

Status EnsureLocalAdminToken(const std::string& home) {
  LOOM_ASSIGN_OR_RETURN(std::unique_ptr<auth::TokenStore> tokens, auth::TokenStore::Open(auth::TokensFile(home)));
  const int64_t now = SystemClock().NowMs();
  const std::string path = TokenFile(home);
  {
    std::ifstream in(path);
    std::string existing;
    if (in && std::getline(in, existing)) {
      auto who = tokens->Verify(existing, now);
      if (who.ok() && who->admin) return Status::Ok();
    }
  }
  const char* user = std::getenv("USER");
  std::string tenant = user && *user ? user : "default";
  if (!auth::ValidateTenant(tenant).ok()) tenant = "default";
  LOOM_ASSIGN_OR_RETURN(auto made, tokens->Create(tenant, /*admin=*/true, now, 0));
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot write " + tmp);
  fchmod(fd, 0600);
  const std::string line = made.second + "\n";
  const bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot write " + path);
  return Status::Ok();
}

}  // namespace loom::cli
