// config.pbtxt: protobuf text parsing, then our validation (which fills defaults and checks
// every field users write).
#include <string>
#include <string_view>

#include "fuzz/fuzz_target.h"
#include "server/runtime/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = wtserve::runtime::ParseModelConfigText(text, "fuzz/config.pbtxt");
  if (!cfg.ok()) return 0;
  (void)wtserve::runtime::ValidateModelConfig(*cfg, "fuzz/config.pbtxt", "fuzz");
  (void)wtserve::runtime::ValidateModelConfig(*cfg, "fuzz/config.pbtxt");
  return 0;
}
