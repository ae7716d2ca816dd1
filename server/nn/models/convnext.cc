#include "server/nn/models/convnext.h"

#include <stdexcept>
#include <string>

#include <torch/nn/functional/activation.h>
#include <torch/nn/options/conv.h>
#include <torch/nn/options/linear.h>
#include <torch/nn/options/normalization.h>

#include "server/nn/models/init.h"
#include "server/nn/models/training_forward.h"

namespace wtserve::nn {
namespace {

constexpr double kLayerNormEps = 1e-6;

}  // namespace

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double eps) : channels_(channels), eps_(eps) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  auto y = torch::layer_norm(x.permute({0, 2, 3, 1}), {channels_}, weight, bias, eps_);
  return y.permute({0, 3, 1, 2});
}

ConvNeXtMlpImpl::ConvNeXtMlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor ConvNeXtMlpImpl::forward(const torch::Tensor& x) {
  // Exact (erf) GELU, as timm's nn.GELU default.
  return fc2(torch::gelu(fc1(x)));
}

torch::Tensor ConvNeXtMlpImpl::forward_nchw(const torch::Tensor& x) {
  const torch::Tensor& w1 = fc1->weight;
  const torch::Tensor& w2 = fc2->weight;
  const torch::Tensor h = torch::conv2d(x, w1.view({w1.size(0), w1.size(1), 1, 1}), fc1->bias);
  // GELU on the NHWC view: LibTorch 1.13's elementwise kernels took 2.5-3.5x longer on the
  // same channels_last tensor viewed as NCHW (measured: 1.55 vs 3.9-5.5 ms for 56x56x384).
  const torch::Tensor g = torch::gelu(h.permute({0, 2, 3, 1})).permute({0, 3, 1, 2});
  return torch::conv2d(g, w2.view({w2.size(0), w2.size(1), 1, 1}), fc2->bias);
}

ConvNeXtBlockImpl::ConvNeXtBlockImpl(int64_t dim, int64_t kernel_size, int64_t wt_levels, double layer_scale_init) {
  gamma = register_parameter("gamma", torch::full({dim}, layer_scale_init));
  if (wt_levels < 0) {
    conv_dw = register_module(
        "conv_dw",
        torch::nn::Conv2d(
            torch::nn::Conv2dOptions(dim, dim, kernel_size).padding(kernel_size / 2).groups(dim).bias(true)));
  } else {
    wt_conv_dw =
        register_module("conv_dw", WTConv2d(WTConv2dOptions(dim).kernel_size(kernel_size).wt_levels(wt_levels)));
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps)));
  mlp = register_module("mlp", ConvNeXtMlp(dim, 4 * dim));
}

torch::Tensor ConvNeXtBlockImpl::forward(const torch::Tensor& x) {
  const bool training = is_training() && torch::GradMode::is_enabled();
  torch::Tensor y;
  if (conv_dw) {
    y = training ? DepthwiseConv2dTrainingForward(*conv_dw, x) : conv_dw->forward(x);
  } else {
    y = training ? WTConv2dTrainingForward(*wt_conv_dw, x) : wt_conv_dw->forward(x);
  }
  const torch::Tensor normed = norm(y.permute({0, 2, 3, 1}));  // [N, H, W, C]
  // Inference on CPU: the MLP as 1x1 convs on the channels_last view (oneDNN, see convnext.h),
  // except on maps under 16 pixels, where OpenBLAS's SGEMM was faster (3x3, batch 8: 107-166 us
  // against 186-309 us for the convs, 1 and 2 threads, on the CI machine).
  if (!training && x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.size(2) * x.size(3) >= 16) {
    // x + gamma * mlp, as one addcmul on NHWC views (see forward_nchw on why NHWC).
    const torch::Tensor z = mlp->forward_nchw(normed.permute({0, 3, 1, 2})).permute({0, 2, 3, 1});
    return torch::addcmul(x.permute({0, 2, 3, 1}), z, gamma).permute({0, 3, 1, 2});
  }
  y = mlp(normed) * gamma;
  return x + y.permute({0, 3, 1, 2});
}

ConvNeXtStageImpl::ConvNeXtStageImpl(int64_t in_dim, int64_t dim, int64_t depth, int64_t kernel_size, int64_t wt_levels,
                                     double layer_scale_init) {
  if (in_dim > 0) {
    downsample = register_module(
        "downsample",
        torch::nn::Sequential(LayerNorm2d(in_dim, kLayerNormEps),
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(in_dim, dim, 2).stride(2).bias(true))));
  }
  blocks = register_module("blocks", torch::nn::Sequential());
  for (int64_t b = 0; b < depth; ++b) {
    blocks->push_back(ConvNeXtBlock(dim, kernel_size, wt_levels, layer_scale_init));
  }
}

torch::Tensor ConvNeXtStageImpl::forward(torch::Tensor x) {
  if (downsample) x = downsample->forward(x);
  return blocks->forward(x);
}

ConvNeXtHeadImpl::ConvNeXtHeadImpl(int64_t dim, int64_t num_classes) {
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps)));
  fc = register_module("fc", torch::nn::Linear(dim, num_classes));
}

torch::Tensor ConvNeXtHeadImpl::forward(const torch::Tensor& x) {
  // Pooling first, then the norm over channels: timm's NormMlpClassifierHead.
  return fc(norm(x.mean({2, 3})));
}

ConvNeXtImpl::ConvNeXtImpl(const ConvNeXtOptions& opts) : options(opts) {
  const auto& depths = options.depths();
  const auto& dims = options.dims();
  const auto& levels = options.wt_levels();
  if (depths.empty() || depths.size() != dims.size()) {
    throw std::invalid_argument("ConvNeXt: depths and dims must be non-empty and equally long");
  }
  if (!levels.empty() && levels.size() != depths.size()) {
    throw std::invalid_argument("ConvNeXt: wt_levels needs one entry per stage (" + std::to_string(depths.size()) +
                                "), got " + std::to_string(levels.size()));
  }
  for (size_t s = 0; s < depths.size(); ++s) {
    if (depths[s] < 1 || dims[s] < 1 || (!levels.empty() && levels[s] < 0)) {
      throw std::invalid_argument("ConvNeXt: stage " + std::to_string(s) +
                                  " needs depth >= 1, dim >= 1, wt_levels >= 0");
    }
  }
  if (options.in_chans() < 1 || options.num_classes() < 1 || options.stem_patch() < 1 || options.kernel_size() < 1 ||
      options.wt_kernel_size() < 1) {
    throw std::invalid_argument("ConvNeXt: in_chans, num_classes, stem_patch and kernel sizes must be >= 1");
  }
  stem = register_module(
      "stem", torch::nn::Sequential(
                  torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), dims[0], options.stem_patch())
                                        .stride(options.stem_patch())
                                        .bias(true)),
                  LayerNorm2d(dims[0], kLayerNormEps)));
  stages = register_module("stages", torch::nn::ModuleList());
  for (size_t s = 0; s < depths.size(); ++s) {
    const bool wt = !levels.empty();
    stages->push_back(ConvNeXtStage(s == 0 ? 0 : dims[s - 1], dims[s], depths[s],
                                    wt ? options.wt_kernel_size() : options.kernel_size(), wt ? levels[s] : -1,
                                    options.layer_scale_init()));
  }
  head = register_module("head", ConvNeXtHead(dims.back(), options.num_classes()));
  InitWeights();
}

void ConvNeXtImpl::InitWeights() { InitConvLinearTruncNormal(*this, 0.02); }

torch::Tensor ConvNeXtImpl::forward(torch::Tensor images) { return head(forward_features(std::move(images))); }

torch::Tensor ConvNeXtImpl::forward_features(torch::Tensor images) {
  auto x = stem->forward(images.contiguous(at::MemoryFormat::ChannelsLast));
  for (const auto& stage : *stages) x = stage->as<ConvNeXtStageImpl>()->forward(x);
  return x;
}

}  // namespace wtserve::nn
