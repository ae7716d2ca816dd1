// gRPC server reflection v1 (grpc.reflection.v1.ServerReflection), beside the v1alpha service
// of gRPC's plugin, which is all gRPC 1.51 serves: newer grpcurl, Postman and gRPC UI ask for v1
// first. The answers come from the generated descriptor pool, as the plugin's do, with its
// error texts ("Symbol not found.", ...); each stream sends a file at most once (its
// dependencies first), as the protocol allows.
#ifndef WTSERVE_SERVER_API_REFLECTION_V1_H_
#define WTSERVE_SERVER_API_REFLECTION_V1_H_

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace wtserve::api {

class ReflectionV1Service final : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  // `services`: the full names list_services answers (every service the server registers).
  explicit ReflectionV1Service(std::vector<std::string> services);

  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* ctx) override;

  const std::vector<std::string>& services() const { return services_; }

 private:
  const std::vector<std::string> services_;
};

// One answer, for tests and the stream: fills `response` for `request`; `sent` holds the file
// names this stream has sent already (updated).
void AnswerReflection(const std::vector<std::string>& services,
                      const grpc::reflection::v1::ServerReflectionRequest& request, std::vector<std::string>* sent,
                      grpc::reflection::v1::ServerReflectionResponse* response);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_REFLECTION_V1_H_
