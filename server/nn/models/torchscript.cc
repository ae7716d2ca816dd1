#include "server/nn/models/torchscript.h"

#include <fstream>
#include <stdexcept>
#include <utility>

#include <torch/csrc/jit/serialization/import.h>

namespace wtserve::nn {

TorchScriptClassifierImpl::TorchScriptClassifierImpl(torch::jit::Module module) : module_(std::move(module)) {
  module_.eval();
  torch::nn::Module::train(false);
}

torch::Tensor TorchScriptClassifierImpl::forward(torch::Tensor images) {
  c10::IValue out = module_.forward({std::move(images)});
  if (!out.isTensor() || out.toTensor().dim() != 2) {
    throw std::runtime_error("TorchScript classifier: forward must return one tensor [N, num_classes], got " +
                             (out.isTensor() ? std::to_string(out.toTensor().dim()) + "-D tensor" : out.tagKind()));
  }
  return out.toTensor();
}

void TorchScriptClassifierImpl::train(bool on) {
  module_.train(on);
  torch::nn::Module::train(on);
}

std::shared_ptr<TorchScriptClassifierImpl> LoadTorchScriptClassifier(const std::string& path) {
  if (!std::ifstream(path, std::ios::binary)) {
    throw std::runtime_error("TorchScript model '" + path + "': cannot open the file");
  }
  try {
    return std::make_shared<TorchScriptClassifierImpl>(torch::jit::load(path, torch::kCPU));
  } catch (const c10::Error& e) {
    throw std::runtime_error("TorchScript model '" + path +
                             "': not a loadable torch.jit.save archive: " + e.what_without_backtrace());
  }
}

}  // namespace wtserve::nn
