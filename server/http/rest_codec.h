// OIP v2 over HTTP/REST (KServe v2 JSON, with Triton's binary tensor extension): what goes
// between an HTTP body and the protobuf messages the gRPC service uses, so that both front ends
// share one validation, batching and response path (server/api). No I/O here.
//
// Infer request body: JSON {"id", "parameters", "inputs": [{"name", "shape", "datatype",
// "parameters", "data"}], "outputs": [{"name", "parameters"}]}. `data` is a flat or nested
// array (FP32: numbers; UINT8: integers 0..255; BYTES: strings, one per element). With the binary
// extension the JSON is followed by raw tensor bytes: the HTTP header
// Inference-Header-Content-Length gives the JSON's length, and an input with
// "parameters": {"binary_data_size": N} takes the next N bytes (little-endian values; BYTES
// elements each prefixed by a 4-byte little-endian length), in input order.
//
// An input or output whose parameters name a "shared_memory_region" carries no data here: the
// bytes travel through the region (server/api/shared_memory.h).
//
// Outputs come back as JSON `data` unless "binary_data": true is set on the output or
// "binary_data_output": true on the request; binary outputs carry
// "parameters": {"binary_data_size": N} and follow the JSON in output order (then
// `json_length` is set, for the Inference-Header-Content-Length header).
#ifndef WTSERVE_SERVER_HTTP_REST_CODEC_H_
#define WTSERVE_SERVER_HTTP_REST_CODEC_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "inference.pb.h"

namespace wtserve::http {

inline constexpr char kHeaderLengthHeader[] = "Inference-Header-Content-Length";

struct RestInferRequest {
  inference::ModelInferRequest request;
  // Per requested output (same order as request.outputs()): send it as binary data.
  std::vector<bool> binary_outputs;
  // The request's "binary_data_output": outputs not listed in the request use it.
  bool binary_by_default = false;
};

// `body`: the whole HTTP body; `json_length`: the Inference-Header-Content-Length value (nullopt
// when absent: the body is all JSON). `model_name`, `model_version` come from the URL.
// Errors: INVALID_ARGUMENT saying what is malformed (JSON syntax, a field of the wrong type, a
// binary section whose sizes do not add up).
absl::StatusOr<RestInferRequest> ParseRestInferRequest(std::string_view body, std::optional<size_t> json_length,
                                                       const std::string& model_name, const std::string& model_version);

struct RestBody {
  std::string body;
  std::optional<size_t> json_length;  // set when binary data follows the JSON
};

// The response for `parsed` (the outputs of `response` are in the order requested; FP32 raw
// output contents become numbers, BYTES become strings).
RestBody EncodeRestInferResponse(const inference::ModelInferResponse& response, const RestInferRequest& parsed);

// Other OIP responses as KServe v2 / Triton REST JSON (numbers as JSON numbers).
std::string ServerMetadataJson(const inference::ServerMetadataResponse& metadata);
std::string ModelMetadataJson(const inference::ModelMetadataResponse& metadata);
std::string ModelConfigJson(const inference::ModelConfigResponse& config);
std::string ModelStatisticsJson(const inference::ModelStatisticsResponse& statistics);
std::string RepositoryIndexJson(const inference::RepositoryIndexResponse& index);

// Triton's REST shared memory calls: the register body {"key", "offset", "byte_size"} and the
// status answer [{"name", "key", "offset", "byte_size"}].
struct SharedMemoryRegistration {
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};
absl::StatusOr<SharedMemoryRegistration> ParseSharedMemoryRegistration(std::string_view body);
std::string SharedMemoryStatusJson(const inference::SystemSharedMemoryStatusResponse& status);

// {"error": "<message>"}.
std::string ErrorJson(absl::string_view message);

// The HTTP status for an OIP status, as Triton maps its errors: OK 200, INVALID_ARGUMENT /
// CANCELLED / ALREADY_EXISTS / FAILED_PRECONDITION / OUT_OF_RANGE / RESOURCE_EXHAUSTED / UNKNOWN
// 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, UNIMPLEMENTED 501,
// UNAVAILABLE 503, DEADLINE_EXCEEDED 504, everything else (INTERNAL, DATA_LOSS, ABORTED) 500.
int HttpStatusOf(absl::StatusCode code);

// Parses a JSON body of the repository and statistics calls that may be empty: {} when it is.
// Errors: INVALID_ARGUMENT when it is not a JSON object.
absl::StatusOr<bool> ReadyFlagOfIndexRequest(std::string_view body);
// RepositoryModelLoad's body: {"parameters": {"config": "<model config as JSON>", ...}}, as the
// gRPC request's parameters (strings, booleans and integers; empty body: none).
absl::StatusOr<google::protobuf::Map<std::string, inference::ModelRepositoryParameter>> LoadRequestParameters(
    std::string_view body);

}  // namespace wtserve::http

#endif  // WTSERVE_SERVER_HTTP_REST_CODEC_H_
