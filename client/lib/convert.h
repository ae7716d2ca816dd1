// Conversions between the public client types and the OIP v2 protobuf messages (internal).
#ifndef WTSERVE_CLIENT_LIB_CONVERT_H_
#define WTSERVE_CLIENT_LIB_CONVERT_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "inference.pb.h"
#include "wtserve/client.h"

namespace wtserve::internal {

// gRPC and absl status codes share their numbers; the message passes through unchanged.
absl::Status ToStatus(const grpc::Status& status);

// Validates the inputs and fills `out` (raw_input_contents form).
absl::Status ToProto(const InferRequest& request, inference::ModelInferRequest* out);

// Accepts outputs in raw_output_contents or in typed `contents`; INTERNAL for malformed ones.
absl::StatusOr<InferResult> FromProto(const inference::ModelInferResponse& response);

// The stream's error_message as a status: a leading "CODE_NAME: " (e.g. "INVALID_ARGUMENT: ")
// selects the code, otherwise UNKNOWN. (wtserve before 2026-12-02 wrote errors this way.)
absl::Status StreamErrorToStatus(const std::string& message);
// The error of a stream response with a non-empty error_message: the code from the parameter
// wtserve_status_code of its infer_response (wtserve writes the message alone, as Triton does),
// else from a "CODE_NAME: " prefix (StreamErrorToStatus), else UNKNOWN.
absl::Status StreamResponseError(const inference::ModelStreamInferResponse& response);

}  // namespace wtserve::internal

#endif  // WTSERVE_CLIENT_LIB_CONVERT_H_
