// Who may read loomd's dashboard and its JSON API when loomd runs with tokens (docs/OBSERVABILITY.md,
// "Authentication"). The same bearer tokens as the CLI: "Authorization: Bearer loom_..." (scripts,
// curl), or a cookie set by the login page (browsers). The pages show every tenant's jobs, so
// they need an admin token; a tenant's token is refused with 403. /metrics stays open to
// Prometheus (metrics_open), as loomd's --http-listen address decides who reaches it.
//
// Pure: the token check is injected (TokenStore::Verify in loomd, a fake in tests).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/http/http_server.h"
#include "common/status.h"
#include "scheduler/auth/token_store.h"

namespace loom::http {

struct DashboardAuth {
  // Who holds a token: UNAUTHENTICATED when unknown, revoked or expired.
  std::function<StatusOr<auth::TokenInfo>(const std::string& token)> verify;
  bool metrics_open = true;  // /metrics without a token
};

inline constexpr const char* kTokenCookie = "loom_token";

// The token a request carries: its Authorization bearer, else its loom_token cookie; empty if none.
std::string RequestToken(const Request& request);
// Whether a path is the local one a login may send the browser back to ("/", "/#/queue"); no
// other host ("//evil", "http://..."), so the login page is no open redirect.
bool SafeNext(const std::string& next);

// Every route but the login page's (and /metrics when open) behind the token check: an API
// path answers 401/403 as JSON, a page 401 with the login form (or 403).
std::vector<Route> Guard(std::vector<Route> routes, const DashboardAuth& auth);
// GET /login: the form (or, with ?token=&next=, the one-click login `loom up` prints); POST
// /login: checks the form's token, sets the HttpOnly cookie and sends the browser to `next`.
// GET /logout clears the cookie.
std::vector<Route> LoginRoutes(const DashboardAuth& auth);

}  // namespace loom::http
