// A ModelInferRequest as it arrives on the wire, decoded against three model configs: FP32
// pixels, UINT8 pixels and encoded (BYTES) images, which cover raw and typed contents, shapes,
// parameters, requested outputs and the image path.
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "fuzz/fuzz_target.h"
#include "fuzz/validated_config.h"
#include "inference.pb.h"
#include "server/api/infer_request.h"
#include "server/runtime/model_config.h"

namespace {

std::vector<wtserve::config::ModelConfig> Configs() {
  std::vector<wtserve::config::ModelConfig> out;
  for (const char* input : {"input { name: \"images\" data_type: TYPE_FP32 dims: [1, 28, 28] }",
                            "input { name: \"images\" data_type: TYPE_UINT8 dims: [3, 8, 8] }",
                            "input { name: \"images\" data_type: TYPE_STRING dims: [1, 28, 28] }"}) {
    out.push_back(wtserve::fuzz::ValidatedConfig(
        std::string("name: \"m\" architecture { name: \"convnext_fmnist\" } max_batch_size: 8\n") + input +
        "\noutput { name: \"logits\" data_type: TYPE_FP32 dims: [10] }\n"));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libprotobuf logs every invalid UTF-8 string it refuses; the server rate-limits those lines
  // (log_rate_limit.h), here they would only bury the fuzzer's own output.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  static const std::vector<wtserve::config::ModelConfig>* configs =
      new std::vector<wtserve::config::ModelConfig>(Configs());
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  for (const auto& cfg : *configs) (void)wtserve::api::DecodeInferRequest(request, cfg);
  return 0;
}
