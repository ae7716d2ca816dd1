// A model config for a fuzz harness: `text` parsed and validated as a model named "m". A config
// that does not validate is a broken harness, not a finding: the process aborts with the reason.
#ifndef WTSERVE_FUZZ_VALIDATED_CONFIG_H_
#define WTSERVE_FUZZ_VALIDATED_CONFIG_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "server/runtime/model_config.h"

namespace wtserve::fuzz {

inline config::ModelConfig ValidatedConfig(const std::string& text) {
  auto cfg = runtime::ParseModelConfigText(text, "fuzz");
  const absl::Status valid = cfg.ok() ? runtime::ValidateModelConfig(*cfg, "fuzz", "m") : cfg.status();
  if (!valid.ok()) {
    std::fprintf(stderr, "fuzz harness config: %s\n", valid.ToString().c_str());
    std::abort();
  }
  return *cfg;
}

}  // namespace wtserve::fuzz

#endif  // WTSERVE_FUZZ_VALIDATED_CONFIG_H_
