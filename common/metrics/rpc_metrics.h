// RPC count and latency by method and status code, for every gRPC server that adds this
// interceptor (loomd, loom-worker): loom_rpc_requests_total{method,code} and
// loom_rpc_duration_seconds{method,code}, in the process's metrics Registry.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

namespace loom::metrics {

// For grpc::ServerBuilder::experimental().SetInterceptorCreators.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RpcMetricsInterceptorFactory();

// "/loom.v1.Scheduler/Submit" -> "Submit".
std::string MethodLabel(const char* full_method);
// grpc::StatusCode -> "OK", "NOT_FOUND", ...
std::string CodeLabel(int code);

}  // namespace loom::metrics
