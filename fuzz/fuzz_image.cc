// An uploaded image: the PNG/JPEG header and completeness checks, then OpenCV's decoder, resize
// and crop into a grey and a colour model input.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "fuzz/validated_config.h"
#include "server/runtime/model_config.h"
#include "server/runtime/preprocess.h"

namespace {

std::vector<wtserve::config::ModelConfig> Configs() {
  std::vector<wtserve::config::ModelConfig> out;
  for (const char* rest : {"input { name: \"x\" data_type: TYPE_STRING dims: [1, 28, 28] }",
                           "input { name: \"x\" data_type: TYPE_STRING dims: [3, 16, 16] }\n"
                           "input_preprocessing { resize_shorter_side: 20 center_crop: 16 }"}) {
    out.push_back(
        wtserve::fuzz::ValidatedConfig(std::string("name: \"m\" architecture { name: \"a\" } max_batch_size: 1\n") +
                                       rest + "\noutput { name: \"y\" data_type: TYPE_FP32 dims: [10] }\n"));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<wtserve::config::ModelConfig>* configs =
      new std::vector<wtserve::config::ModelConfig>(Configs());
  const std::string_view encoded(reinterpret_cast<const char*>(data), size);
  for (const auto& cfg : *configs) {
    (void)wtserve::runtime::DecodeImage(encoded, cfg.input(0), cfg.input_preprocessing());
  }
  return 0;
}
