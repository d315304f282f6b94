// HttpServer: the small read-only HTTP endpoint loomd and each worker serve beside gRPC
// (/metrics, and on loomd the dashboard and its /api/). It wraps cpp-httplib (Debian's
// libcpp-httplib-dev) so that only this file's .cc includes its large header.
//
// Threads: handlers run on the server's own pool, concurrently; they must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace httplib {
class Server;
}

namespace loom::http {

struct Request {
  std::string method = "GET";
  std::string path;
  std::vector<std::string> matches;            // the route's regex groups, [0] the whole path
  std::map<std::string, std::string> params;   // query parameters (and a POSTed form's fields)
  std::map<std::string, std::string> headers;  // names in lower case
};

struct Reply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones: Set-Cookie, Location
};

struct Route {
  std::string pattern;  // an ECMAScript regex matched against the whole path, e.g. "/api/jobs/(\\d+)"
  std::function<Reply(const Request&)> handler;
  std::string method = "GET";  // or "POST"
};

// "HOST:PORT" or "[V6]:PORT" into its parts. INVALID_ARGUMENT names what is wrong.
StatusOr<std::pair<std::string, int>> SplitListen(const std::string& listen);

class HttpServer {
 public:
  // Binds `listen` (port 0: a free one) and serves `routes` (GET, or POST where a route says so)
  // on a thread of its own.
  // UNAVAILABLE if the address cannot be bound.
  static StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen, std::vector<Route> routes);
  ~HttpServer();  // stops serving and joins

  int port() const { return port_; }
  // http://HOST:PORT, with a wildcard host shown as 127.0.0.1.
  std::string url() const;

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
};

// GET `url` (http://HOST:PORT/PATH) with a bounded wait, with "Authorization: Bearer `token`"
// where one is given; the body of a 200 reply. For tests and `loom up`; UNAVAILABLE when nothing
// answers, INTERNAL for another status.
StatusOr<std::string> Get(const std::string& url, int timeout_s = 10, const std::string& token = "");

// Any reply, for tests of status codes and headers: redirects are not followed.
struct Response {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
};
// `method` is GET or POST (`form` the body, application/x-www-form-urlencoded).
StatusOr<Response> Fetch(const std::string& method, const std::string& url,
                         const std::map<std::string, std::string>& headers = {}, const std::string& form = "",
                         int timeout_s = 10);

}  // namespace loom::http
