// TorchScript classifiers: a model saved with torch.jit.save (scripted or traced, optionally
// torch.jit.freeze'd) served like a registry network. Its forward must take one float tensor
// [N, C, H, W] and return one tensor [N, num_classes].
#ifndef WTSERVE_SERVER_NN_MODELS_TORCHSCRIPT_H_
#define WTSERVE_SERVER_NN_MODELS_TORCHSCRIPT_H_

#include <memory>
#include <string>

#include <torch/csrc/jit/api/module.h>

#include "server/nn/models/registry.h"

namespace wtserve::nn {

class TorchScriptClassifierImpl : public ClassifierImpl {
 public:
  explicit TorchScriptClassifierImpl(torch::jit::Module module);
  // Throws std::runtime_error when the scripted forward does not return a 2-D tensor.
  torch::Tensor forward(torch::Tensor images) override;
  // Switches the scripted module's train/eval mode along with this wrapper's.
  void train(bool on = true) override;

  torch::jit::Module& module() { return module_; }

 private:
  torch::jit::Module module_;
};

// Loads `path` (torch.jit.save) onto the CPU in eval mode. Throws std::runtime_error naming the
// file when it is missing or not a TorchScript archive.
std::shared_ptr<TorchScriptClassifierImpl> LoadTorchScriptClassifier(const std::string& path);

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_MODELS_TORCHSCRIPT_H_
