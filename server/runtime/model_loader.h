// Loading one version folder of a model (<repository>/<model>/<version>/) into a classifier that
// is ready to run: the network (a registered architecture + state dict, or TorchScript), placed
// on its device with the configured precision and memory format, plus the class labels.
//
// Used by the server's model repository and by the offline evaluation CLI (server/tools), so
// both run exactly the same code path: NormalizePixels (preprocess.h) -> LoadedModel::Forward.
#ifndef WTSERVE_SERVER_RUNTIME_MODEL_LOADER_H_
#define WTSERVE_SERVER_RUNTIME_MODEL_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model_config.pb.h"

namespace wtserve::nn {
class ClassifierImpl;
}

namespace wtserve::runtime {

// True if LibTorch was built with CUDA and at least one GPU is visible.
bool CudaAvailable();

// The device of each model instance, in instance order (instance_group order, `count` each):
//   KIND_CPU  -> CPU
//   KIND_GPU  -> cuda:<gpus[i % gpus.size()]>; FAILED_PRECONDITION if CUDA is unavailable or
//                a listed GPU does not exist
//   KIND_AUTO -> cuda:0 when CUDA is available, else CPU
// `cfg` must be validated (model_config.h).
absl::StatusOr<std::vector<c10::Device>> InstanceDevices(const config::ModelConfig& cfg);

// Numeric version folders directly under `model_dir` (names of digits only, value >= 1), in
// ascending order. Other entries are ignored.
absl::StatusOr<std::vector<int64_t>> ListVersionFolders(const std::string& model_dir);

// Reads a labels file: one label per line (trailing '\r' and whitespace trimmed), exactly
// `num_classes` non-empty lines. Errors name the file.
absl::StatusOr<std::vector<std::string>> ReadLabels(const std::string& path, int64_t num_classes);

// A network on one device, ready for inference. Thread-safe: Forward may be called from several
// threads at once (module forward does not mutate state under InferenceMode).
class LoadedModel {
 public:
  LoadedModel(std::shared_ptr<nn::ClassifierImpl> network, c10::Device device, at::ScalarType dtype, bool channels_last,
              int64_t num_classes);

  // images: normalized float32 [N, C, H, W] (any device, N >= 1). Runs under
  // c10::InferenceMode on this model's device in its precision (and channels_last if set) and
  // returns float32 logits [N, num_classes] on the CPU. Blocks until the result is on the CPU.
  // Errors: INTERNAL with LibTorch's message (e.g. out of memory, unsupported op for the dtype).
  absl::StatusOr<at::Tensor> Forward(const at::Tensor& images) const;

  c10::Device device() const { return device_; }
  at::ScalarType dtype() const { return dtype_; }

 private:
  std::shared_ptr<nn::ClassifierImpl> network_;
  c10::Device device_;
  at::ScalarType dtype_;
  bool channels_last_;
  int64_t num_classes_;
};

// One loaded model version.
struct LoadedVersion {
  int64_t version = 0;
  std::string version_dir;
  // Labels by class index; empty when the model has no labels file.
  std::vector<std::string> labels;
  // One per distinct instance device (instances on the same device share the network).
  std::vector<std::shared_ptr<const LoadedModel>> networks;
  // networks[instance_network[i]] serves instance i (InstanceDevices order).
  std::vector<int> instance_network;
};

// Loads `<model_dir>/<version>/` of a validated `cfg`:
//   platform "wtserve_architecture": CreateClassifier(architecture) + LoadStateDict(file)
//   platform "pytorch_libtorch":     LoadTorchScriptClassifier(file)
// with file = <version>/<default_model_filename>; labels from <version>/<label_filename>, else
// <model_dir>/<label_filename>, else none. Then places a copy on each instance device
// (`devices`, from InstanceDevices) in the configured precision. Does not warm up.
// Errors (naming the file): NOT_FOUND for a missing model file, INVALID_ARGUMENT for an
// unknown architecture or bad weights/labels, FAILED_PRECONDITION for a device problem.
absl::StatusOr<LoadedVersion> LoadModelVersion(const config::ModelConfig& cfg, const std::string& model_dir,
                                               int64_t version, const std::vector<c10::Device>& devices);

// For analyses that take gradients (wtserve-eval --erf_output): the float32 CPU network of
// `version` in eval mode, parameters frozen (requires_grad false), for use outside
// InferenceMode. Errors as LoadModelVersion.
absl::StatusOr<std::shared_ptr<nn::ClassifierImpl>> LoadNetworkForGradients(const config::ModelConfig& cfg,
                                                                            const std::string& model_dir,
                                                                            int64_t version);

// For tools (offline evaluation): loads `version` onto the first instance device of `cfg` and
// returns that network; `labels` (optional) receives the labels (empty if none).
absl::StatusOr<std::shared_ptr<const LoadedModel>> LoadModelForEvaluation(const config::ModelConfig& cfg,
                                                                          const std::string& model_dir, int64_t version,
                                                                          std::vector<std::string>* labels);

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_MODEL_LOADER_H_
