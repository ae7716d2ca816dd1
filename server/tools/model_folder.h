// Writing a trained network as a model-repository folder the server loads as it is:
//   <dir>/config.pbtxt   (wtserve::config::ModelConfig in protobuf text format)
//   <dir>/labels.txt     (one class name per line, index order; not written without labels)
//   <dir>/<version>/model.pt   (state dict, nn::SaveStateDict)
#ifndef WTSERVE_SERVER_TOOLS_MODEL_FOLDER_H_
#define WTSERVE_SERVER_TOOLS_MODEL_FOLDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "model_config.pb.h"

namespace wtserve::tools {

struct ServingConfigSpec {
  std::string name;          // model name = folder name
  std::string architecture;  // registered architecture
  int64_t num_classes = 10;
  int64_t channels = 1, height = 28, width = 28;
  double width_mult = 1.0;
  std::vector<float> mean, std;  // per channel (or one value), on [0, 1] pixels
};

// The defaults the trainer writes: platform wtserve_architecture, model.pt, max_batch_size 64,
// input "input" FP32 [C, H, W] (pixels * 1/255), output "logits" FP32 [num_classes] with
// labels.txt, preprocessing scale 1/255 + mean/std, dynamic batching with preferred sizes
// 16/32/64 and a 500 us queue delay.
config::ModelConfig DefaultServingConfig(const ServingConfigSpec& spec);

// Validates `cfg` with the server's validator (on a copy, so defaults are not written out), then
// writes the folder (creating it). Errors: INVALID_ARGUMENT from validation, INTERNAL on I/O.
absl::Status WriteModelFolder(const std::string& dir, const config::ModelConfig& cfg, int64_t version,
                              const torch::nn::Module& network, const std::vector<std::string>& labels);

}  // namespace wtserve::tools

#endif  // WTSERVE_SERVER_TOOLS_MODEL_FOLDER_H_
