#include "scheduler/service/grpc_status.h"

namespace loom {

grpc::Status ToGrpc(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, s.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, s.message()};
    case StatusCode::kAlreadyExists: return {grpc::StatusCode::ALREADY_EXISTS, s.message()};
    case StatusCode::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, s.message()};
    case StatusCode::kResourceExhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, s.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, s.message()};
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, s.message()};
    case StatusCode::kPermissionDenied: return {grpc::StatusCode::PERMISSION_DENIED, s.message()};
    case StatusCode::kUnauthenticated: return {grpc::StatusCode::UNAUTHENTICATED, s.message()};
  }
  return {grpc::StatusCode::UNKNOWN, s.message()};
}

Status FromGrpc(const grpc::Status& s, const std::string& peer) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK: return Status::Ok();
    case grpc::StatusCode::INVALID_ARGUMENT: return InvalidArgument(s.error_message());
    case grpc::StatusCode::NOT_FOUND: return NotFound(s.error_message());
    case grpc::StatusCode::ALREADY_EXISTS: return AlreadyExists(s.error_message());
    case grpc::StatusCode::FAILED_PRECONDITION: return FailedPrecondition(s.error_message());
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return ResourceExhausted(s.error_message());
    case grpc::StatusCode::PERMISSION_DENIED: return PermissionDenied(s.error_message());
    case grpc::StatusCode::UNAUTHENTICATED: return Unauthenticated(s.error_message());
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Unavailable("cannot reach " + peer + " (" + s.error_message() + ")");
    default: return Internal(peer + ": " + s.error_message());
  }
}

}  // namespace loom
