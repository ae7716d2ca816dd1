// A REST inference body as it arrives over HTTP: the first 4 bytes choose the
// Inference-Header-Content-Length value (little-endian; 0xffffffff: header absent, else taken
// modulo the body's size + 1), the rest is the body. Parsed by the REST codec, then decoded
// against the FP32, UINT8 and BYTES configs the gRPC harness uses, and a parsed request's
// response is encoded (JSON and binary, including non-UTF-8 label bytes).
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "fuzz/validated_config.h"
#include "server/api/infer_request.h"
#include "server/http/rest_codec.h"

namespace {

std::vector<wtserve::config::ModelConfig> Configs() {
  std::vector<wtserve::config::ModelConfig> out;
  for (const char* input : {"input { name: \"images\" data_type: TYPE_FP32 dims: [1, 2, 2] }",
                            "input { name: \"images\" data_type: TYPE_UINT8 dims: [3, -1, -1] max_side: 16 }",
                            "input { name: \"images\" data_type: TYPE_STRING dims: [1, 4, 4] }"}) {
    out.push_back(wtserve::fuzz::ValidatedConfig(
        std::string("name: \"m\" architecture { name: \"convnext_fmnist\" } max_batch_size: 8\n") + input +
        "\noutput { name: \"logits\" data_type: TYPE_FP32 dims: [3] }\n"));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<wtserve::config::ModelConfig>* configs =
      new std::vector<wtserve::config::ModelConfig>(Configs());
  if (size < 4) return 0;
  uint32_t selector;
  std::memcpy(&selector, data, 4);
  const std::string_view body(reinterpret_cast<const char*>(data) + 4, size - 4);
  std::optional<size_t> json_length;
  if (selector != 0xffffffffu) json_length = selector % (body.size() + 1);
  auto parsed = wtserve::http::ParseRestInferRequest(body, json_length, "m", "");
  if (!parsed.ok()) return 0;
  for (const auto& cfg : *configs) (void)wtserve::api::DecodeInferRequest(parsed->request, cfg);
  // A response of the requested outputs: FP32 logits and a BYTES element with a stray byte.
  inference::ModelInferResponse response;
  for (int i = 0; i < parsed->request.outputs_size() + 1; ++i) {
    auto* tensor = response.add_outputs();
    tensor->set_name("logits");
    tensor->set_datatype(i % 2 == 0 ? "FP32" : "BYTES");
    response.add_raw_output_contents(i % 2 == 0 ? std::string(12, '\x3f') : std::string("\x05\0\0\0ab\xff\xfe", 9));
  }
  (void)wtserve::http::EncodeRestInferResponse(response, *parsed);
  return 0;
}
