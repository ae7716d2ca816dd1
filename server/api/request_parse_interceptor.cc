#include "server/api/request_parse_interceptor.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace wtserve::api {
namespace {

constexpr absl::string_view kServicePrefix = "/inference.GRPCInferenceService/";

class RequestParseFailureInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RequestParseFailureInterceptor(absl::string_view method) : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED && status.error_message().empty()) {
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         absl::StrCat("the ", method_,
                                      " request could not be parsed: not a serialized message of this method's "
                                      "request type, or a string field (model_name, id, an input name, a "
                                      "parameter) holds bytes that are not valid UTF-8")));
      }
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
};

}  // namespace

grpc::experimental::Interceptor* RequestParseFailureInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const absl::string_view method = info->method() != nullptr ? info->method() : "";
  if (!absl::StartsWith(method, kServicePrefix)) return nullptr;
  return new RequestParseFailureInterceptor(method.substr(kServicePrefix.size()));
}

}  // namespace wtserve::api
