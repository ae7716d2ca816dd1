// gRPC's callback API answers a request message that fails to parse with UNIMPLEMENTED and an
// empty message (the handler never runs; grpcpp's CallbackUnaryHandler substitutes an
// "unimplemented" reactor). The cause is almost always a client bug a user can fix, such as
// invalid UTF-8 in a string field (proto3 `string` must be UTF-8; libprotobuf refuses it), so
// this interceptor rewrites that status, on the methods of inference.GRPCInferenceService
// (which implements every one of them, so UNIMPLEMENTED with no message can only mean this),
// to INVALID_ARGUMENT with a reason.
#ifndef WTSERVE_SERVER_API_REQUEST_PARSE_INTERCEPTOR_H_
#define WTSERVE_SERVER_API_REQUEST_PARSE_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

namespace wtserve::api {

class RequestParseFailureInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // nullptr (no interceptor, no cost) for methods of other services.
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_REQUEST_PARSE_INTERCEPTOR_H_
