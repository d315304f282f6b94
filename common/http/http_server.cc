#include "common/http/http_server.h"

#include <httplib.h>

#include <cctype>
#include <chrono>
#include <cstdlib>

namespace loom::http {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

StatusOr<std::pair<std::string, int>> SplitListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return InvalidArgument("HTTP address '" + listen + "' is not HOST:PORT");
  }
  std::string host = listen.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long port = std::strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) {
    return InvalidArgument("HTTP address '" + listen + "': port must be 0..65535");
  }
  return std::make_pair(host, static_cast<int>(port));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen, std::vector<Route> routes) {
  LOOM_ASSIGN_OR_RETURN(auto host_port, SplitListen(listen));
  std::unique_ptr<HttpServer> s(new HttpServer);
  s->server_ = std::make_unique<httplib::Server>();
  // A scrape or a page load at a time: a few threads, not httplib's default of one per core.
  s->server_->new_task_queue = [] { return new httplib::ThreadPool(4); };
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second daemon bind the
  // same port silently and take half the scrapes.
  s->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  s->host_ = host_port.first;
  for (Route& r : routes) {
    auto serve = [handler = std::move(r.handler)](const httplib::Request& req, httplib::Response& res) {
      Request request;
      request.method = req.method;
      request.path = req.path;
      for (const auto& m : req.matches) request.matches.push_back(m.str());
      for (const auto& [k, v] : req.params) request.params[k] = v;
      for (const auto& [k, v] : req.headers) request.headers[Lower(k)] = v;
      Reply reply = handler(request);
      res.status = reply.status;
      for (const auto& [k, v] : reply.headers) res.set_header(k, v);
      res.set_content(reply.body, reply.content_type.c_str());
    };
    if (r.method == "POST") {
      s->server_->Post(r.pattern, std::move(serve));
    } else {
      s->server_->Get(r.pattern, std::move(serve));
    }
  }
  if (host_port.second == 0) {
    s->port_ = s->server_->bind_to_any_port(s->host_);
  } else if (s->server_->bind_to_port(s->host_.c_str(), host_port.second)) {
    s->port_ = host_port.second;
  }
  if (s->port_ <= 0) return Unavailable("cannot listen for HTTP on " + listen + " (address in use?)");
  httplib::Server* server = s->server_.get();
  s->thread_ = std::thread([server] { server->listen_after_bind(); });
  // httplib's stop() does nothing before its loop runs, so a server stopped right after Start
  // would serve on and never be joined: return only once it runs.
  for (int i = 0; i < 10000 && !server->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return s;
}

HttpServer::~HttpServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string HttpServer::url() const {
  std::string host = host_;
  if (host.empty() || host == "0.0.0.0" || host == "::") host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(port_);
}

StatusOr<std::string> Get(const std::string& url, int timeout_s, const std::string& token) {
  std::map<std::string, std::string> headers;
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  LOOM_ASSIGN_OR_RETURN(Response res, Fetch("GET", url, headers, "", timeout_s));
  if (res.status != 200) return Internal("GET " + url + ": HTTP " + std::to_string(res.status));
  return res.body;
}

StatusOr<Response> Fetch(const std::string& method, const std::string& url,
                         const std::map<std::string, std::string>& headers, const std::string& form, int timeout_s) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return InvalidArgument("not an http:// URL: " + url);
  size_t slash = url.find('/', scheme.size());
  std::string origin = url.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  httplib::Client client(origin);
  client.set_connection_timeout(timeout_s, 0);
  client.set_read_timeout(timeout_s, 0);
  httplib::Headers h(headers.begin(), headers.end());
  auto res = method == "POST" ? client.Post(path.c_str(), h, form, "application/x-www-form-urlencoded")
                              : client.Get(path.c_str(), h);
  if (!res) return Unavailable("no HTTP answer from " + origin + ": " + httplib::to_string(res.error()));
  Response out;
  out.status = res->status;
  out.body = res->body;
  for (const auto& [k, v] : res->headers) out.headers[Lower(k)] = v;
  return out;
}

}  // namespace loom::http
