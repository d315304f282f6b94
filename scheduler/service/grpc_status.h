// Translation between loom::Status and grpc::Status, shared by every service and client.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "common/status.h"

namespace loom {

grpc::Status ToGrpc(const Status& s);
Status FromGrpc(const grpc::Status& s, const std::string& peer);

// A context with a deadline: every RPC Loom makes is bounded.
inline void SetDeadline(grpc::ClientContext* ctx, std::chrono::milliseconds timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace loom
