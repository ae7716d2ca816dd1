#include "server/tools/model_folder.h"

#include <filesystem>
#include <fstream>

#include <google/protobuf/text_format.h>

#include "absl/strings/str_cat.h"
#include "server/nn/models/checkpoint.h"
#include "server/runtime/model_config.h"

namespace wtserve::tools {

config::ModelConfig DefaultServingConfig(const ServingConfigSpec& spec) {
  config::ModelConfig cfg;
  cfg.set_name(spec.name);
  cfg.set_platform(runtime::kPlatformArchitecture);
  cfg.set_default_model_filename("model.pt");
  auto* arch = cfg.mutable_architecture();
  arch->set_name(spec.architecture);
  arch->set_num_classes(spec.num_classes);
  arch->set_in_chans(spec.channels);
  if (spec.width_mult != 1.0) arch->set_width_mult(spec.width_mult);
  cfg.set_max_batch_size(64);
  auto* input = cfg.add_input();
  input->set_name("input");
  input->set_data_type(config::TYPE_FP32);
  input->add_dims(spec.channels);
  input->add_dims(spec.height);
  input->add_dims(spec.width);
  auto* output = cfg.add_output();
  output->set_name("logits");
  output->set_data_type(config::TYPE_FP32);
  output->add_dims(spec.num_classes);
  output->set_label_filename("labels.txt");
  auto* pp = cfg.mutable_input_preprocessing();
  pp->set_scale(1.0f / 255.0f);
  for (float m : spec.mean) pp->add_mean(m);
  for (float s : spec.std) pp->add_std(s);
  auto* batching = cfg.mutable_dynamic_batching();
  for (int size : {16, 32, 64}) batching->add_preferred_batch_size(size);
  batching->set_max_queue_delay_microseconds(500);
  return cfg;
}

absl::Status WriteModelFolder(const std::string& dir, const config::ModelConfig& cfg, int64_t version,
                              const torch::nn::Module& network, const std::vector<std::string>& labels) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(dir) / runtime::kConfigFileName).string();
  config::ModelConfig checked = cfg;
  absl::Status valid = runtime::ValidateModelConfig(checked, config_path, fs::path(dir).filename().string());
  if (!valid.ok()) return valid;
  if (version < 1) return absl::InvalidArgumentError("version must be >= 1");

  std::error_code ec;
  const fs::path version_dir = fs::path(dir) / std::to_string(version);
  fs::create_directories(version_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", version_dir.string(), ": ", ec.message()));
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(cfg, &text)) {
    return absl::InternalError("cannot print the model config");
  }
  {
    std::ofstream out(config_path, std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", config_path));
  }
  const std::string labels_path = (fs::path(dir) / "labels.txt").string();
  if (!labels.empty()) {  // none: the model answers class indices only
    std::ofstream out(labels_path, std::ios::trunc);
    for (const auto& label : labels) out << label << '\n';
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", labels_path));
  }
  try {
    nn::SaveStateDict(network, (version_dir / cfg.default_model_filename()).string());
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
  return absl::OkStatus();
}

}  // namespace wtserve::tools
