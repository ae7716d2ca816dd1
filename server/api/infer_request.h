// Decoding and validating an OIP v2 ModelInferRequest against a model's config, and encoding
// the response. Pure functions (no gRPC, no threads), so every malformed-request case is unit
// tested (tests/api/infer_request_test.cc).
//
// Accepted input (one input, named as the config's input[0]):
//   FP32  [N, C, H, W]  pixels already multiplied by `scale`  raw LE float32 or fp32_contents
//   UINT8 [N, C, H, W]  raw pixels                           raw bytes or uint_contents (0..255)
//   BYTES [N] or [N, 1] one encoded PNG/JPEG per element     raw (4-byte LE length + bytes per
//                                                             element) or bytes_contents
// with 1 <= N <= max_batch_size and C, H, W = input[0].dims, whatever input[0].data_type says.
// Outputs (raw_output_contents, always):
//   <output name>       FP32  [N, num_classes] logits
//   same name with parameter classification=k (int64, 1 <= k <= num_classes):
//                       BYTES [N, k] "score:index:label" (or "score:index" without labels),
//                       score = the logit printed with %f, highest first (Triton's convention)
// Request parameters: "timeout" (int64 µs >= 0, queue timeout), "priority" (accepted, ignored).
#ifndef WTSERVE_SERVER_API_INFER_REQUEST_H_
#define WTSERVE_SERVER_API_INFER_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "inference.pb.h"
#include "model_config.pb.h"

namespace wtserve::api {

struct RequestedOutput {
  std::string name;
  int64_t classification = 0;  // 0: the logits; k > 0: the top-k as BYTES
};

struct DecodedRequest {
  at::Tensor images;                            // normalized float32 [N, C, H, W], CPU, contiguous
  std::vector<RequestedOutput> outputs;         // never empty (the logits when none were requested)
  std::optional<absl::Duration> queue_timeout;  // the "timeout" parameter, if given
};

// Errors: INVALID_ARGUMENT with a message that names the input/output/parameter and says what
// was expected and what was received. `cfg` must be validated (server/runtime/model_config.h).
absl::StatusOr<DecodedRequest> DecodeInferRequest(const inference::ModelInferRequest& request,
                                                  const config::ModelConfig& cfg);

// Fills `response` (model_name, model_version, id, outputs, raw_output_contents) from the logits
// [N, num_classes] (float32, CPU). `labels` may be empty.
void EncodeInferResponse(const inference::ModelInferRequest& request, const std::string& model_version,
                         const std::vector<std::string>& labels, const std::vector<RequestedOutput>& outputs,
                         const at::Tensor& logits, inference::ModelInferResponse* response);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_INFER_REQUEST_H_
