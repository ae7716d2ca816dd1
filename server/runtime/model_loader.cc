#include "server/runtime/model_loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/nn/exception_text.h"
#include "server/nn/models/checkpoint.h"
#include "server/nn/models/registry.h"
#include "server/nn/models/torchscript.h"
#include "server/runtime/model_config.h"

namespace wtserve::runtime {
namespace {

namespace fs = std::filesystem;

at::ScalarType PrecisionType(const std::string& precision) {
  if (precision == "fp16") return at::kHalf;
  if (precision == "bf16") return at::kBFloat16;
  return at::kFloat;
}

std::string Join(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

// Builds the network of `cfg` from `model_file` on the CPU in float32.
absl::StatusOr<std::shared_ptr<nn::ClassifierImpl>> BuildNetwork(const config::ModelConfig& cfg,
                                                                 const std::string& model_file) {
  try {
    if (cfg.platform() == kPlatformTorchScript) {
      return nn::LoadTorchScriptClassifier(model_file);
    }
    nn::ClassifierOptions options;
    options.num_classes = cfg.architecture().num_classes();
    options.in_chans = cfg.architecture().in_chans();
    options.width_mult = cfg.architecture().width_mult();
    std::shared_ptr<nn::ClassifierImpl> network;
    try {
      network = nn::CreateClassifier(cfg.architecture().name(), options);
    } catch (const std::invalid_argument& e) {
      return absl::InvalidArgumentError(absl::StrCat("architecture.name: ", e.what()));
    }
    nn::CheckpointOptions checkpoint;
    checkpoint.entry = cfg.architecture().checkpoint_entry();
    nn::LoadStateDict(*network, model_file, checkpoint);
    return network;
  } catch (const std::exception& e) {
    // c10::Error derives from std::exception; the nn layer names the file in its messages.
    return absl::InvalidArgumentError(absl::StrCat(model_file, ": ", nn::ExceptionText(e)));
  }
}

}  // namespace

bool CudaAvailable() { return torch::cuda::is_available(); }

absl::StatusOr<std::vector<c10::Device>> InstanceDevices(const config::ModelConfig& cfg) {
  std::vector<c10::Device> devices;
  const bool cuda = CudaAvailable();
  const int64_t gpu_count = cuda ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
  for (int g = 0; g < cfg.instance_group_size(); ++g) {
    const config::ModelInstanceGroup& group = cfg.instance_group(g);
    for (int i = 0; i < group.count(); ++i) {
      switch (group.kind()) {
        case config::ModelInstanceGroup::KIND_CPU: devices.emplace_back(c10::kCPU); break;
        case config::ModelInstanceGroup::KIND_GPU: {
          if (!cuda) {
            return absl::FailedPreconditionError(
                absl::StrCat("instance_group[", g,
                             "].kind: KIND_GPU, but LibTorch sees no CUDA GPU (built "
                             "without CUDA, or no device visible); use KIND_AUTO or KIND_CPU to run on the "
                             "CPU"));
          }
          const int64_t gpu = group.gpus(i % group.gpus_size());
          if (gpu >= gpu_count) {
            return absl::FailedPreconditionError(
                absl::StrCat("instance_group[", g, "].gpus: GPU ", gpu, " does not exist (", gpu_count, " visible)"));
          }
          devices.emplace_back(c10::kCUDA, static_cast<c10::DeviceIndex>(gpu));
          break;
        }
        default:  // KIND_AUTO
          devices.emplace_back(cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU));
      }
    }
  }
  return devices;
}

absl::StatusOr<std::vector<int64_t>> ListVersionFolders(const std::string& model_dir) {
  std::error_code ec;
  fs::directory_iterator it(model_dir, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat(model_dir, ": cannot list the model folder: ", ec.message()));
  }
  std::vector<int64_t> versions;
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.size() > 18 || !std::all_of(name.begin(), name.end(), absl::ascii_isdigit)) {
      continue;
    }
    if (!entry.is_directory(ec)) continue;
    const int64_t version = std::stoll(name);
    if (version >= 1) versions.push_back(version);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

absl::StatusOr<std::vector<std::string>> ReadLabels(const std::string& path, int64_t num_classes) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open the labels file"));
  std::vector<std::string> labels;
  std::string line;
  int line_number = 0;
  while (std::getline(file, line)) {
    ++line_number;
    std::string label(absl::StripAsciiWhitespace(line));
    if (label.empty()) {
      // A trailing empty line is common; an empty line in between is an error.
      continue;
    }
    if (static_cast<int64_t>(labels.size()) != line_number - 1) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number - 1, ": empty label (one label per line)"));
    }
    labels.push_back(std::move(label));
  }
  if (static_cast<int64_t>(labels.size()) != num_classes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", labels.size(), " labels, but the model has ",
                                                   num_classes, " classes (output[0].dims)"));
  }
  return labels;
}

LoadedModel::LoadedModel(std::shared_ptr<nn::ClassifierImpl> network, c10::Device device, at::ScalarType dtype,
                         bool channels_last, int64_t num_classes)
    : network_(std::move(network)),
      device_(device),
      dtype_(dtype),
      channels_last_(channels_last),
      num_classes_(num_classes) {}

absl::StatusOr<at::Tensor> LoadedModel::Forward(const at::Tensor& images) const {
  try {
    c10::InferenceMode guard;
    at::Tensor x = images.to(device_, dtype_);
    if (channels_last_) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor logits = network_->forward(x);
    if (logits.dim() != 2 || logits.size(0) != images.size(0) || logits.size(1) != num_classes_) {
      return absl::InternalError(absl::StrCat("the network returned shape [", absl::StrJoin(logits.sizes(), ", "),
                                              "], expected [", images.size(0), ", ", num_classes_, "]"));
    }
    return logits.to(at::kCPU, at::kFloat).contiguous();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("model execution failed: ", nn::ExceptionText(e)));
  }
}

absl::StatusOr<std::shared_ptr<nn::ClassifierImpl>> LoadNetworkForGradients(const config::ModelConfig& cfg,
                                                                            const std::string& model_dir,
                                                                            int64_t version) {
  const std::string model_file = Join(Join(model_dir, std::to_string(version)), cfg.default_model_filename());
  std::error_code ec;
  if (!fs::is_regular_file(model_file, ec)) {
    return absl::NotFoundError(absl::StrCat(model_file, ": model file not found"));
  }
  absl::StatusOr<std::shared_ptr<nn::ClassifierImpl>> network = BuildNetwork(cfg, model_file);
  if (!network.ok()) return network.status();
  (*network)->eval();
  for (at::Tensor& p : (*network)->parameters()) p.set_requires_grad(false);
  return network;
}

absl::StatusOr<LoadedVersion> LoadModelVersion(const config::ModelConfig& cfg, const std::string& model_dir,
                                               int64_t version, const std::vector<c10::Device>& devices) {
  LoadedVersion loaded;
  loaded.version = version;
  loaded.version_dir = Join(model_dir, std::to_string(version));
  const std::string model_file = Join(loaded.version_dir, cfg.default_model_filename());
  std::error_code ec;
  if (!fs::is_regular_file(model_file, ec)) {
    return absl::NotFoundError(absl::StrCat(model_file, ": model file not found"));
  }
  const at::ScalarType dtype = PrecisionType(cfg.optimization().precision());
  if (devices.empty()) return absl::InvalidArgumentError("no instance devices");

  // Labels: the version's own file wins over the model-wide one; none at all is allowed.
  const std::string& label_name = cfg.output(0).label_filename();
  for (const std::string& dir : {loaded.version_dir, model_dir}) {
    const std::string path = Join(dir, label_name);
    if (fs::exists(path, ec)) {
      absl::StatusOr<std::vector<std::string>> labels = ReadLabels(path, cfg.output(0).dims(0));
      if (!labels.ok()) return labels.status();
      loaded.labels = *std::move(labels);
      break;
    }
  }

  std::map<std::string, int> network_of_device;
  for (const c10::Device& device : devices) {
    auto [it, inserted] = network_of_device.emplace(device.str(), loaded.networks.size());
    loaded.instance_network.push_back(it->second);
    if (!inserted) continue;
    if (device.is_cpu() && dtype == at::kHalf) {
      return absl::FailedPreconditionError(
          "optimization.precision: \"fp16\" needs GPU instances (LibTorch lacks fp16 CPU "
          "kernels); use \"bf16\" or \"fp32\" on the CPU");
    }
    absl::StatusOr<std::shared_ptr<nn::ClassifierImpl>> network = BuildNetwork(cfg, model_file);
    if (!network.ok()) return network.status();
    try {
      (*network)->eval();
      (*network)->to(device, dtype);
      // A TorchScript module is not a registered submodule of its wrapper, so Module::to does
      // not reach its parameters.
      if (auto* scripted = dynamic_cast<nn::TorchScriptClassifierImpl*>(network->get())) {
        scripted->module().to(device, dtype);
      }
      if (cfg.optimization().channels_last()) {
        // Conv weights in NHWC let oneDNN/cuDNN skip a layout conversion on every call.
        c10::InferenceMode guard(false);
        for (at::Tensor& p : (*network)->parameters()) {
          if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
        }
      }
    } catch (const std::exception& e) {
      return absl::FailedPreconditionError(
          absl::StrCat(model_file, ": cannot place the model on ", device.str(), ": ", nn::ExceptionText(e)));
    }
    loaded.networks.push_back(std::make_shared<const LoadedModel>(
        *std::move(network), device, dtype, cfg.optimization().channels_last(), cfg.output(0).dims(0)));
  }
  return loaded;
}

absl::StatusOr<std::shared_ptr<const LoadedModel>> LoadModelForEvaluation(const config::ModelConfig& cfg,
                                                                          const std::string& model_dir, int64_t version,
                                                                          std::vector<std::string>* labels) {
  absl::StatusOr<std::vector<c10::Device>> devices = InstanceDevices(cfg);
  if (!devices.ok()) return devices.status();
  devices->erase(devices->begin() + 1, devices->end());
  absl::StatusOr<LoadedVersion> loaded = LoadModelVersion(cfg, model_dir, version, *devices);
  if (!loaded.ok()) return loaded.status();
  if (labels != nullptr) *labels = loaded->labels;
  return loaded->networks.front();
}

}  // namespace wtserve::runtime
