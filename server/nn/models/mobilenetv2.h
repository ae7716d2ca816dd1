// MobileNetV2 (Sandler et al., CVPR 2018) with torchvision's layout and state-dict key names,
// and WTMobileNetV2: the same network with every 3x3 depthwise conv replaced by WTConv2d, as in
// the WTConv paper (Finder et al., ECCV 2024; no code or weights were released for it, so its
// WTConv settings here are ours: kernel 3 like the conv it replaces, wt_levels 3, no bias since
// BatchNorm follows).
//
// Keys: features.0.{0: conv, 1: bn}; features.{1..17}.conv.*: inverted residual blocks
// (expand ratio 1: conv.0 = dw ConvBNReLU6, conv.1 = pw conv, conv.2 = bn; otherwise conv.0 = pw
// ConvBNReLU6, conv.1 = dw ConvBNReLU6, conv.2 = pw conv, conv.3 = bn); features.18 = 1x1
// ConvBNReLU6 to the last channel count; classifier.1 = Linear (classifier.0 is dropout 0.2).
// Channel counts follow torchvision's _make_divisible(c * width_mult, 8); the last channel count
// is _make_divisible(1280 * max(1, width_mult), 8).
#ifndef WTSERVE_SERVER_NN_MODELS_MOBILENETV2_H_
#define WTSERVE_SERVER_NN_MODELS_MOBILENETV2_H_

#include <cstdint>
#include <utility>

#include <torch/arg.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "server/nn/models/registry.h"

namespace wtserve::nn {

struct MobileNetV2Options {
  TORCH_ARG(int64_t, in_chans) = 3;
  TORCH_ARG(int64_t, num_classes) = 1000;
  TORCH_ARG(double, width_mult) = 1.0;
  // Replace each depthwise 3x3 ConvBNReLU6's conv by WTConv2d.
  TORCH_ARG(bool, wtconv) = false;
  TORCH_ARG(int64_t, wt_kernel_size) = 3;
  TORCH_ARG(int64_t, wt_levels) = 3;
  // Dropout before the classifier (training only).
  TORCH_ARG(double, dropout) = 0.2;
};

// A Sequential with a concrete forward, so it can nest inside other Sequentials (torchvision's
// Conv2dNormActivation: conv -> BatchNorm2d -> ReLU6, keys 0.*, 1.*).
class ConvBnActImpl : public torch::nn::SequentialImpl {
 public:
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(ConvBnAct);

// torchvision's _make_divisible: round v to the nearest multiple of divisor, at least divisor,
// never below 90% of v.
int64_t MakeDivisible(double v, int64_t divisor = 8);

class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int64_t inp, int64_t oup, int64_t stride, int64_t expand_ratio,
                       const MobileNetV2Options& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Sequential conv{nullptr};

 private:
  bool use_residual_;
};
TORCH_MODULE(InvertedResidual);

class MobileNetV2Impl : public ClassifierImpl {
 public:
  explicit MobileNetV2Impl(const MobileNetV2Options& options);
  torch::Tensor forward(torch::Tensor images) override;
  torch::Tensor forward_features(torch::Tensor images) override;  // `features`

  MobileNetV2Options options;
  torch::nn::Sequential features{nullptr};
  torch::nn::Sequential classifier{nullptr};
};

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_MODELS_MOBILENETV2_H_
