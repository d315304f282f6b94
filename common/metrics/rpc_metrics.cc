#include "common/metrics/rpc_metrics.h"

#include <chrono>
#include <cstring>

#include "common/metrics/registry.h"

namespace loom::metrics {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetricsInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(MethodLabel(info->method())), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      std::string code = CodeLabel(methods->GetSendStatus().error_code());
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      Counter("loom_rpc_requests_total", "gRPC calls served, by method and status code", {"method", "code"})
          .Inc({method_, code});
      Histogram("loom_rpc_duration_seconds", "Time from a call's arrival to its status, by method and code",
                {"method", "code"}).Observe({method_, code}, seconds);
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(info);
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RpcMetricsInterceptorFactory() {
  return std::make_unique<Factory>();
}

std::string MethodLabel(const char* full_method) {
  if (full_method == nullptr) return "unknown";
  const char* slash = std::strrchr(full_method, '/');
  return slash ? std::string(slash + 1) : std::string(full_method);
}

std::string CodeLabel(int code) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
      "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN";
  return kNames[code];
}

}  // namespace loom::metrics
