#include "server/nn/models/convnext.h"

#include <stdexcept>
#include <string>

#include <torch/nn/functional/activation.h>
#include <torch/nn/options/conv.h>
#include <torch/nn/options/linear.h>
#include <torch/nn/options/normalization.h>

#include "server/nn/models/init.h"

namespace wtserve::nn {
namespace {

constexpr double kLayerNormEps = 1e-6;

}  // namespace

torch::Tensor WTConv2dTrainingForward(WTConv2dImpl& m, const torch::Tensor& x) {
  const int64_t f = m.wt_filter.size(2);
  if (f != 2 || m.iwt_filter.size(2) != 2) return m.forward_general(x);
  const int64_t n = x.size(0), c = m.options.channels(), levels = m.options.wt_levels();
  // Per 2x2 block (a, b / c, d) flattened as p = 2i + j: band s = sum_p analysis[s][p] x_p and
  // block pixel p = sum_s synthesis[s][p] band_s, the filters being the same for every channel.
  const torch::Tensor analysis = m.wt_filter.narrow(0, 0, 4).reshape({4, 4});
  const torch::Tensor synthesis = m.iwt_filter.narrow(0, 0, 4).reshape({4, 4});
  const torch::Tensor ll_row = analysis.narrow(0, 0, 1).t();  // [4, 1]
  std::vector<torch::Tensor> tags;
  std::vector<std::pair<int64_t, int64_t>> sizes;
  torch::Tensor ll = x;
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t h = ll.size(2), w = ll.size(3);
    sizes.emplace_back(h, w);
    if (h % 2 || w % 2) ll = at::constant_pad_nd(ll, {0, w % 2, 0, h % 2});
    const int64_t h2 = ll.size(2) / 2, w2 = ll.size(3) / 2;
    const torch::Tensor blocks =
        ll.reshape({n, c, h2, 2, w2, 2}).permute({0, 1, 2, 4, 3, 5}).reshape({n, c, h2, w2, 4});
    const torch::Tensor bands =
        at::matmul(blocks, analysis.t()).permute({0, 1, 4, 2, 3}).reshape({n, 4 * c, h2, w2});
    ll = at::matmul(blocks, ll_row).squeeze(-1);
    auto* conv = m.wavelet_convs[i]->as<torch::nn::Conv2dImpl>();
    auto* scale = m.wavelet_scale[i]->as<ChannelScaleImpl>();
    tags.push_back(scale->forward(conv->forward(bands.contiguous(at::MemoryFormat::ChannelsLast))));
  }
  torch::Tensor next;
  const torch::Tensor ll_unit = torch::tensor({1.0, 0.0, 0.0, 0.0}, x.options()).view({1, 1, 4, 1, 1});
  for (int64_t i = levels - 1; i >= 0; --i) {
    const int64_t h2 = tags[i].size(2), w2 = tags[i].size(3);
    torch::Tensor bands = tags[i].reshape({n, c, 4, h2, w2});
    if (next.defined()) bands = bands + next.unsqueeze(2) * ll_unit;
    torch::Tensor out = at::matmul(bands.permute({0, 1, 3, 4, 2}), synthesis)
                            .reshape({n, c, h2, w2, 2, 2})
                            .permute({0, 1, 2, 4, 3, 5})
                            .reshape({n, c, 2 * h2, 2 * w2});
    if (out.size(2) != sizes[i].first || out.size(3) != sizes[i].second) {
      out = out.narrow(2, 0, sizes[i].first).narrow(3, 0, sizes[i].second);
    }
    next = out;
  }
  torch::Tensor y = m.base_scale->forward(m.base_conv->forward(x));
  if (next.defined()) y = y + next;
  const int64_t stride = m.options.stride();
  if (stride > 1) y = y.slice(2, 0, c10::nullopt, stride).slice(3, 0, c10::nullopt, stride);
  return y;
}

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

ConvNeXtBlockImpl::ConvNeXtBlockImpl(int64_t dim, int64_t kernel_size, int64_t wt_levels,
                                     double layer_scale_init) {
  gamma = register_parameter("gamma", torch::full({dim}, layer_scale_init));
  if (wt_levels < 0) {
    conv_dw = register_module(
        "conv_dw", torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, kernel_size)
                                         .padding(kernel_size / 2)
                                         .groups(dim)
                                         .bias(true)));
  } else {
    wt_conv_dw = register_module(
        "conv_dw", WTConv2d(WTConv2dOptions(dim).kernel_size(kernel_size).wt_levels(wt_levels)));
  }
  norm = register_module(
      "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps)));
  mlp = register_module("mlp", ConvNeXtMlp(dim, 4 * dim));
}

torch::Tensor ConvNeXtBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y;
  if (conv_dw) {
    y = conv_dw->forward(x);
  } else if (is_training() && torch::GradMode::is_enabled()) {
    y = WTConv2dTrainingForward(*wt_conv_dw, x);
  } else {
    y = wt_conv_dw->forward(x);
  }
  y = mlp(norm(y.permute({0, 2, 3, 1}))) * gamma;
  return x + y.permute({0, 3, 1, 2});
}

ConvNeXtStageImpl::ConvNeXtStageImpl(int64_t in_dim, int64_t dim, int64_t depth,
                                     int64_t kernel_size, int64_t wt_levels,
                                     double layer_scale_init) {
  if (in_dim > 0) {
    downsample = register_module(
        "downsample",
        torch::nn::Sequential(
            LayerNorm2d(in_dim, kLayerNormEps),
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
  norm = register_module(
      "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps)));
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
    throw std::invalid_argument("ConvNeXt: wt_levels needs one entry per stage (" +
                                std::to_string(depths.size()) + "), got " +
                                std::to_string(levels.size()));
  }
  for (size_t s = 0; s < depths.size(); ++s) {
    if (depths[s] < 1 || dims[s] < 1 || (!levels.empty() && levels[s] < 0)) {
      throw std::invalid_argument("ConvNeXt: stage " + std::to_string(s) +
                                  " needs depth >= 1, dim >= 1, wt_levels >= 0");
    }
  }
  if (options.in_chans() < 1 || options.num_classes() < 1 || options.stem_patch() < 1 ||
      options.kernel_size() < 1 || options.wt_kernel_size() < 1) {
    throw std::invalid_argument(
        "ConvNeXt: in_chans, num_classes, stem_patch and kernel sizes must be >= 1");
  }
  stem = register_module(
      "stem", torch::nn::Sequential(
                  torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), dims[0],
                                                             options.stem_patch())
                                        .stride(options.stem_patch())
                                        .bias(true)),
                  LayerNorm2d(dims[0], kLayerNormEps)));
  stages = register_module("stages", torch::nn::ModuleList());
  for (size_t s = 0; s < depths.size(); ++s) {
    const bool wt = !levels.empty();
    stages->push_back(ConvNeXtStage(s == 0 ? 0 : dims[s - 1], dims[s], depths[s],
                                    wt ? options.wt_kernel_size() : options.kernel_size(),
                                    wt ? levels[s] : -1, options.layer_scale_init()));
  }
  head = register_module("head", ConvNeXtHead(dims.back(), options.num_classes()));
  InitWeights();
}

void ConvNeXtImpl::InitWeights() { InitConvLinearTruncNormal(*this, 0.02); }

torch::Tensor ConvNeXtImpl::forward(torch::Tensor images) {
  auto x = stem->forward(images.contiguous(at::MemoryFormat::ChannelsLast));
  for (const auto& stage : *stages) x = stage->as<ConvNeXtStageImpl>()->forward(x);
  return head(x);
}

}  // namespace wtserve::nn
