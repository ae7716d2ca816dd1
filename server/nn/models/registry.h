// Classifier registry: every network the server can build from a config.pbtxt `architecture`
// name. LibTorch only (no abseil): errors are exceptions.
//
// Registered names (see docs/models.md for parameter counts):
//   wtconvnext_{tiny,small,base}  WTConvNeXt as released with the WTConv paper (docs/reference.md §2)
//   convnext_{tiny,small,base}    the ConvNeXt baseline (timm key names)
//   wtmobilenetv2, mobilenetv2    MobileNetV2 (torchvision key names), WTConv in place of each
//                                 3x3 depthwise conv for the wt variant; width_mult applies
//   wtconvnext_fmnist, convnext_fmnist  compact variants for 28x28 grayscale inputs
#ifndef WTSERVE_SERVER_NN_MODELS_REGISTRY_H_
#define WTSERVE_SERVER_NN_MODELS_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

namespace wtserve::nn {

struct ClassifierOptions {
  int64_t num_classes = 1000;  // logits per image, >= 1
  int64_t in_chans = 3;        // input channels, >= 1
  double width_mult = 1.0;     // MobileNetV2 family only; > 0
};

// An image classifier. forward: images [N, in_chans, H, W] float (normalised pixels) ->
// logits [N, num_classes] float, same dtype/device as the parameters.
// forward_features: the last feature map before global pooling, [N, C, h, w] (what receptive
// field analyses look at); throws std::logic_error for networks that do not expose it.
class ClassifierImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor images) = 0;
  virtual torch::Tensor forward_features(torch::Tensor images);
};

// Builds a freshly initialised network by name. Throws std::invalid_argument for an unknown
// name (the message lists the registered ones) or invalid options.
std::shared_ptr<ClassifierImpl> CreateClassifier(const std::string& architecture, const ClassifierOptions& options);

// The registered names, sorted.
std::vector<std::string> RegisteredArchitectures();

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_MODELS_REGISTRY_H_
