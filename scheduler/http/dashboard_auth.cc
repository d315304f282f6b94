#include "scheduler/http/dashboard_auth.h"

#include <nlohmann/json.hpp>

namespace loom::http {
namespace {

constexpr const char* kAdminOnly = "the dashboard shows every tenant's jobs: it needs an admin token";

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Reply LoginPage(int status, const std::string& error, const std::string& next) {
  std::string html =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>Loom: log in</title></head>"
      "<body data-page=\"login\"><h1>Loom</h1>";
  if (!error.empty()) html += "<p id=\"error\">" + Escape(error) + "</p>";
  html += "<form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" name=\"token\" "
          "autocomplete=\"off\"></label><input type=\"hidden\" name=\"next\" value=\"" + Escape(next) +
          "\"><button type=\"submit\">Log in</button></form>"
          "<p>An admin token: <code>loom token create --tenant ops --admin</code>, or "
          "<code>$LOOM_HOME/token</code> on a <code>loom up</code> machine.</p></body></html>";
  return Reply{status, "text/html; charset=utf-8", html, {}};
}

Reply Refuse(const Request& r, int status, const std::string& why) {
  if (r.path.rfind("/api/", 0) == 0) {
    Reply reply{status, "application/json", nlohmann::json{{"error", why}}.dump(), {}};
    if (status == 401) reply.headers.push_back({"WWW-Authenticate", "Bearer realm=\"loom\""});
    return reply;
  }
  if (status == 403) return Reply{403, "text/plain; charset=utf-8", why + "\n", {}};
  return LoginPage(401, why, r.path);
}

// Why `token` may not read the dashboard; nullopt when it may.
std::optional<std::pair<int, std::string>> Check(const DashboardAuth& auth, const std::string& token) {
  if (token.empty()) return std::make_pair(401, std::string("log in with a Loom token"));
  StatusOr<auth::TokenInfo> who = auth.verify(token);
  if (!who.ok()) return std::make_pair(401, who.status().message());
  if (!who->admin) return std::make_pair(403, std::string(kAdminOnly) + " (tenant " + who->tenant + " is not admin)");
  return std::nullopt;
}

Reply LogIn(const DashboardAuth& auth, const Request& r) {
  auto param = [&](const char* name) {
    auto it = r.params.find(name);
    return it == r.params.end() ? std::string() : it->second;
  };
  std::string next = param("next");
  if (!SafeNext(next)) next = "/";
  const std::string token = param("token");
  if (r.method == "GET" && token.empty()) return LoginPage(200, "", next);
  if (auto refused = Check(auth, token)) {
    if (refused->first == 403) return Reply{403, "text/plain; charset=utf-8", refused->second + "\n", {}};
    return LoginPage(401, refused->second, next);
  }
  // HttpOnly: page scripts never see it; SameSite=Strict: other sites' pages do not send it.
  Reply reply{303, "text/plain; charset=utf-8", "logged in\n", {}};
  reply.headers.push_back({"Set-Cookie", std::string(kTokenCookie) + "=" + token + "; Path=/; HttpOnly; SameSite=Strict"});
  reply.headers.push_back({"Location", next});
  return reply;
}

}  // namespace

std::string RequestToken(const Request& request) {
  if (auto it = request.headers.find("authorization"); it != request.headers.end()) {
    const std::string prefix = "Bearer ";
    return it->second.rfind(prefix, 0) == 0 ? it->second.substr(prefix.size()) : "";
  }
  auto it = request.headers.find("cookie");
  if (it == request.headers.end()) return "";
  const std::string& cookies = it->second;
  const std::string name = std::string(kTokenCookie) + "=";
  for (size_t at = 0; at < cookies.size();) {
    while (at < cookies.size() && (cookies[at] == ' ' || cookies[at] == ';')) ++at;
    const size_t end = std::min(cookies.find(';', at), cookies.size());
    if (cookies.compare(at, name.size(), name) == 0) return cookies.substr(at + name.size(), end - at - name.size());
    at = end;
  }
  return "";
}

bool SafeNext(const std::string& next) {
  return !next.empty() && next[0] == '/' && (next.size() == 1 || (next[1] != '/' && next[1] != '\\')) &&
         next.find_first_of("\r\n") == std::string::npos;
}

std::vector<Route> Guard(std::vector<Route> routes, const DashboardAuth& auth) {
  for (Route& r : routes) {
    if (auth.metrics_open && r.pattern == "/metrics") continue;
    r.handler = [auth, inner = std::move(r.handler)](const Request& request) {
      if (auto refused = Check(auth, RequestToken(request))) return Refuse(request, refused->first, refused->second);
      return inner(request);
    };
  }
  return routes;
}

std::vector<Route> LoginRoutes(const DashboardAuth& auth) {
  auto login = [auth](const Request& r) { return LogIn(auth, r); };
  return {
      {"/login", login, "GET"},
      {"/login", login, "POST"},
      {"/logout", [](const Request&) {
         Reply reply{303, "text/plain; charset=utf-8", "logged out\n", {}};
         reply.headers.push_back({"Set-Cookie", std::string(kTokenCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"});
         reply.headers.push_back({"Location", "/login"});
         return reply;
       }},
  };
}

}  // namespace loom::http
