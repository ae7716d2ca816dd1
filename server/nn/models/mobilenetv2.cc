#include "server/nn/models/mobilenetv2.h"

#include <cmath>
#include <stdexcept>

#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include "server/nn/wtconv/wtconv2d.h"

namespace wtserve::nn {
namespace {

// Conv(k x k, no bias) -> BatchNorm -> ReLU6, torchvision's Conv2dNormActivation.
ConvBnAct ConvBnRelu6(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups) {
  return ConvBnAct(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                         .stride(stride)
                                         .padding((kernel - 1) / 2)
                                         .groups(groups)
                                         .bias(false)),
                   torch::nn::BatchNorm2d(out), torch::nn::ReLU6());
}

ConvBnAct DepthwiseBnRelu6(int64_t channels, int64_t stride, const MobileNetV2Options& options) {
  if (!options.wtconv()) return ConvBnRelu6(channels, channels, 3, stride, channels);
  return ConvBnAct(WTConv2d(WTConv2dOptions(channels)
                                .kernel_size(options.wt_kernel_size())
                                .stride(stride)
                                .bias(false)
                                .wt_levels(options.wt_levels())),
                   torch::nn::BatchNorm2d(channels), torch::nn::ReLU6());
}

}  // namespace

int64_t MakeDivisible(double v, int64_t divisor) {
  int64_t rounded = static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor;
  int64_t result = std::max(divisor, rounded);
  if (result < 0.9 * v) result += divisor;
  return result;
}

InvertedResidualImpl::InvertedResidualImpl(int64_t inp, int64_t oup, int64_t stride, int64_t expand_ratio,
                                           const MobileNetV2Options& options)
    : use_residual_(stride == 1 && inp == oup) {
  const int64_t hidden = static_cast<int64_t>(std::lround(static_cast<double>(inp) * expand_ratio));
  torch::nn::Sequential layers;
  if (expand_ratio != 1) layers->push_back(ConvBnRelu6(inp, hidden, 1, 1, 1));
  layers->push_back(DepthwiseBnRelu6(hidden, stride, options));
  layers->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, oup, 1).bias(false)));
  layers->push_back(torch::nn::BatchNorm2d(oup));
  conv = register_module("conv", layers);
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  return use_residual_ ? x + conv->forward(x) : conv->forward(x);
}

MobileNetV2Impl::MobileNetV2Impl(const MobileNetV2Options& opts) : options(opts) {
  if (options.width_mult() <= 0 || options.in_chans() < 1 || options.num_classes() < 1) {
    throw std::invalid_argument("MobileNetV2: width_mult must be > 0, in_chans and num_classes >= 1");
  }
  struct Setting {
    int64_t t, c, n, s;  // expand ratio, channels, repeats, first stride
  };
  const Setting settings[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                              {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t input_channel = MakeDivisible(32 * options.width_mult());
  const int64_t last_channel = MakeDivisible(1280 * std::max(1.0, options.width_mult()));

  features = register_module("features", torch::nn::Sequential());
  features->push_back(ConvBnRelu6(options.in_chans(), input_channel, 3, 2, 1));
  for (const auto& st : settings) {
    const int64_t out = MakeDivisible(st.c * options.width_mult());
    for (int64_t i = 0; i < st.n; ++i) {
      features->push_back(InvertedResidual(input_channel, out, i == 0 ? st.s : 1, st.t, options));
      input_channel = out;
    }
  }
  features->push_back(ConvBnRelu6(input_channel, last_channel, 1, 1, 1));
  classifier =
      register_module("classifier", torch::nn::Sequential(torch::nn::Dropout(options.dropout()),
                                                          torch::nn::Linear(last_channel, options.num_classes())));

  // torchvision's init: conv kaiming-normal (fan_out), BN ones/zeros, linear N(0, 0.01).
  torch::NoGradGuard no_grad;
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<torch::nn::Conv2dImpl>()) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    } else if (auto* l = m->as<torch::nn::LinearImpl>()) {
      l->weight.normal_(0.0, 0.01);
      l->bias.zero_();
    }
  }
}

torch::Tensor MobileNetV2Impl::forward_features(torch::Tensor images) { return features->forward(images); }

torch::Tensor MobileNetV2Impl::forward(torch::Tensor images) {
  auto x = forward_features(std::move(images)).mean({2, 3});
  return classifier->forward(x);
}

}  // namespace wtserve::nn
