// ConvNeXt (Liu et al., "A ConvNet for the 2020s", CVPR 2022) as implemented by timm, and
// WTConvNeXt (Finder et al., "Wavelet Convolutions for Large Receptive Fields", ECCV 2024): the
// same network with each block's depthwise conv replaced by WTConv2d (docs/reference.md §2).
//
// Layout (state-dict keys as timm / the released WTConvNeXt checkpoints):
//   stem.0 Conv2d(in_chans, d0, k=p, s=p, bias)  stem.1 LayerNorm2d(d0)
//   stages.{s}.downsample.0 LayerNorm2d(d_{s-1}), .1 Conv2d(d_{s-1}, d_s, k=2, s=2)   (s > 0)
//   stages.{s}.blocks.{b}: gamma [C], conv_dw (Conv2d C->C depthwise k x k with bias, or
//     WTConv2d(C, kernel 5, wt_levels[s])), norm LayerNorm(C), mlp.fc1 Linear(C, 4C),
//     mlp.fc2 Linear(4C, C); x + gamma * mlp(norm(conv_dw(x)))  (channels-last inside)
//   head: global average pool -> head.norm LayerNorm(d3) -> head.fc Linear(d3, num_classes)
// LayerNorm eps 1e-6, GELU exact (erf). No dropout / drop-path (inference and short training).
#ifndef WTSERVE_SERVER_NN_MODELS_CONVNEXT_H_
#define WTSERVE_SERVER_NN_MODELS_CONVNEXT_H_

#include <cstdint>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "server/nn/models/registry.h"
#include "server/nn/wtconv/wtconv2d.h"

namespace wtserve::nn {

struct ConvNeXtOptions {
  ConvNeXtOptions(std::vector<int64_t> depths, std::vector<int64_t> dims)
      : depths_(std::move(depths)), dims_(std::move(dims)) {}

  TORCH_ARG(std::vector<int64_t>, depths);
  TORCH_ARG(std::vector<int64_t>, dims);
  TORCH_ARG(int64_t, in_chans) = 3;
  TORCH_ARG(int64_t, num_classes) = 1000;
  // Stem patch size p (kernel = stride = p): 4 for ImageNet, 2 for 28x28 inputs.
  TORCH_ARG(int64_t, stem_patch) = 4;
  // Empty: plain depthwise conv_dw with `kernel_size`. Otherwise one WTConv2d level count per
  // stage, and conv_dw is WTConv2d with `wt_kernel_size`.
  TORCH_ARG(std::vector<int64_t>, wt_levels) = {};
  TORCH_ARG(int64_t, kernel_size) = 7;
  TORCH_ARG(int64_t, wt_kernel_size) = 5;
  // Initial value of every block's gamma (timm: 1e-6).
  TORCH_ARG(double, layer_scale_init) = 1e-6;
};

// LayerNorm over the channel dimension of [N, C, H, W] (timm LayerNorm2d). Keys weight, bias.
class LayerNorm2dImpl : public torch::nn::Module {
 public:
  LayerNorm2dImpl(int64_t channels, double eps);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;

 private:
  int64_t channels_;
  double eps_;
};
TORCH_MODULE(LayerNorm2d);

class ConvNeXtMlpImpl : public torch::nn::Module {
 public:
  ConvNeXtMlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);  // [..., dim] -> [..., dim]
  // The same on [N, dim, H, W] (channels_last in practice): fc1 and fc2 as 1x1 convolutions,
  // which LibTorch runs on oneDNN on CPU -- 1.9-5.8x faster than the OpenBLAS SGEMM behind
  // Linear for ConvNeXt-T's shapes with 2 threads on the 2-core CI machine, about even with one
  // (docs/models.md). Same parameters.
  torch::Tensor forward_nchw(const torch::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ConvNeXtMlp);

class ConvNeXtBlockImpl : public torch::nn::Module {
 public:
  // wt_levels < 0: plain depthwise conv of `kernel_size`; else WTConv2d(kernel_size, wt_levels).
  ConvNeXtBlockImpl(int64_t dim, int64_t kernel_size, int64_t wt_levels, double layer_scale_init);
  torch::Tensor forward(const torch::Tensor& x);  // [N, C, H, W] -> same

  torch::Tensor gamma;
  torch::nn::Conv2d conv_dw{nullptr};  // set when plain
  WTConv2d wt_conv_dw{nullptr};        // set when WTConv (registered as "conv_dw")
  torch::nn::LayerNorm norm{nullptr};
  ConvNeXtMlp mlp{nullptr};
};
TORCH_MODULE(ConvNeXtBlock);

class ConvNeXtStageImpl : public torch::nn::Module {
 public:
  // in_dim == 0: no downsample (first stage).
  ConvNeXtStageImpl(int64_t in_dim, int64_t dim, int64_t depth, int64_t kernel_size, int64_t wt_levels,
                    double layer_scale_init);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Sequential downsample{nullptr};
  torch::nn::Sequential blocks{nullptr};
};
TORCH_MODULE(ConvNeXtStage);

class ConvNeXtHeadImpl : public torch::nn::Module {
 public:
  ConvNeXtHeadImpl(int64_t dim, int64_t num_classes);
  torch::Tensor forward(const torch::Tensor& x);  // [N, C, H, W] -> [N, num_classes]

  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ConvNeXtHead);

class ConvNeXtImpl : public ClassifierImpl {
 public:
  // Throws std::invalid_argument for inconsistent options.
  explicit ConvNeXtImpl(const ConvNeXtOptions& options);
  torch::Tensor forward(torch::Tensor images) override;
  torch::Tensor forward_features(torch::Tensor images) override;  // stem + stages, channels_last

  ConvNeXtOptions options;
  torch::nn::Sequential stem{nullptr};
  torch::nn::ModuleList stages{nullptr};
  ConvNeXtHead head{nullptr};

 private:
  void InitWeights();
};

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_MODELS_CONVNEXT_H_
