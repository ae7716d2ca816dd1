#include "server/nn/wtconv/wtconv2d.h"

#include <stdexcept>
#include <utility>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/init.h>

#include "server/nn/wtconv/wavelets.h"

namespace wtserve::nn {
namespace {

using at::indexing::None;
using at::indexing::Slice;

// Every level pads odd sizes with one zero row/column at the bottom/right, like the reference.
at::Tensor PadToEven(const at::Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3);
  if (h % 2 == 0 && w % 2 == 0) return x;
  return at::constant_pad_nd(x, {0, w % 2, 0, h % 2});
}

}  // namespace

WTConv2dOptions::WTConv2dOptions(int64_t in_channels, int64_t out_channels) : channels_(in_channels) {
  if (in_channels != out_channels) {
    throw std::invalid_argument("WTConv2d is depthwise: in_channels (" + std::to_string(in_channels) +
                                ") must equal out_channels (" + std::to_string(out_channels) + ")");
  }
}

// ---------------------------------------------------------------------------------------------
ChannelScaleImpl::ChannelScaleImpl(std::vector<int64_t> shape, double init_scale)
    : shape_(std::move(shape)), init_scale_(init_scale) {
  reset();
}

void ChannelScaleImpl::reset() {
  weight = register_parameter("weight", at::full(shape_, init_scale_, at::kFloat));
}

void ChannelScaleImpl::pretty_print(std::ostream& stream) const {
  stream << "wtserve::nn::ChannelScale(shape=" << c10::IntArrayRef(shape_) << ", init=" << init_scale_
         << ")";
}

at::Tensor ChannelScaleImpl::forward(const at::Tensor& x) { return at::mul(weight, x); }

// ---------------------------------------------------------------------------------------------
WTConv2dImpl::WTConv2dImpl(const WTConv2dOptions& options_) : options(options_) { reset(); }

void WTConv2dImpl::reset() {
  const int64_t c = options.channels();
  const int64_t k = options.kernel_size();
  if (c < 1) throw std::invalid_argument("WTConv2d: channels must be >= 1, got " + std::to_string(c));
  if (k < 1) throw std::invalid_argument("WTConv2d: kernel_size must be >= 1, got " + std::to_string(k));
  if (options.stride() < 1) {
    throw std::invalid_argument("WTConv2d: stride must be >= 1, got " + std::to_string(options.stride()));
  }
  if (options.wt_levels() < 0) {
    throw std::invalid_argument("WTConv2d: wt_levels must be >= 0, got " +
                                std::to_string(options.wt_levels()));
  }
  // Throws std::invalid_argument listing the supported names.
  auto filters = CreateWaveletFilters(options.wavelet(), c);
  wt_filter = register_parameter("wt_filter", filters.first, /*requires_grad=*/false);
  iwt_filter = register_parameter("iwt_filter", filters.second, /*requires_grad=*/false);
  haar_tap_ = filters.first.index({0, 0, 0, 0}).item<double>();

  base_conv = register_module(
      "base_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, c, k).padding(torch::kSame).groups(c).bias(
                       options.bias())));
  base_scale = register_module("base_scale", ChannelScale(std::vector<int64_t>{1, c, 1, 1}, 1.0));
  wavelet_convs = torch::nn::ModuleList();
  wavelet_scale = torch::nn::ModuleList();
  for (int64_t i = 0; i < options.wt_levels(); ++i) {
    wavelet_convs->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(4 * c, 4 * c, k).padding(torch::kSame).groups(4 * c).bias(false)));
    wavelet_scale->push_back(ChannelScale(std::vector<int64_t>{1, 4 * c, 1, 1}, 0.1));
  }
  wavelet_convs = register_module("wavelet_convs", wavelet_convs);
  wavelet_scale = register_module("wavelet_scale", wavelet_scale);
}

void WTConv2dImpl::pretty_print(std::ostream& stream) const {
  stream << "wtserve::nn::WTConv2d(channels=" << options.channels() << ", kernel_size=" << options.kernel_size()
         << ", stride=" << options.stride() << ", bias=" << std::boolalpha << options.bias()
         << ", wt_levels=" << options.wt_levels() << ", wavelet=" << options.wavelet()
         << ", path=" << (uses_fast_haar() ? "haar" : "general") << ")";
}

// Looked up on each call: Cloneable::clone() swaps the ModuleList entries for new modules.
torch::nn::Conv2dImpl& WTConv2dImpl::level_conv(int64_t i) { return *wavelet_convs[i]->as<torch::nn::Conv2d>(); }
ChannelScaleImpl& WTConv2dImpl::level_scale(int64_t i) { return *wavelet_scale[i]->as<ChannelScale>(); }

bool WTConv2dImpl::uses_fast_haar() const { return options.fast_haar() && IsHaarWavelet(options.wavelet()); }

void WTConv2dImpl::CheckInput(const at::Tensor& x) const {
  TORCH_CHECK(x.defined(), "WTConv2d: input is an undefined tensor");
  TORCH_CHECK(x.dim() == 4, "WTConv2d: expected a 4-D input [N, C, H, W], got shape ", x.sizes());
  TORCH_CHECK(x.size(1) == options.channels(), "WTConv2d: expected ", options.channels(),
              " input channels, got shape ", x.sizes());
  TORCH_CHECK(x.size(0) >= 1 && x.size(2) >= 1 && x.size(3) >= 1,
              "WTConv2d: expected N, H, W >= 1, got shape ", x.sizes());
  const at::Tensor& w = base_conv->weight;
  TORCH_CHECK(x.scalar_type() == w.scalar_type(), "WTConv2d: input dtype ", x.scalar_type(),
              " differs from the parameters' dtype ", w.scalar_type(), " (convert the module with ->to())");
  TORCH_CHECK(x.device() == w.device(), "WTConv2d: input is on ", x.device(), " but the parameters are on ",
              w.device(), " (move the module with ->to())");
}

at::Tensor WTConv2dImpl::forward(const at::Tensor& x) {
  return uses_fast_haar() ? forward_haar(x) : forward_general(x);
}

// The reference forward, op for op (see REFERENCE.md §1).
at::Tensor WTConv2dImpl::forward_general(const at::Tensor& x) {
  CheckInput(x);
  const int64_t n = x.size(0), c = options.channels();
  const int64_t levels = options.wt_levels();
  const int64_t pad = wt_filter.size(2) / 2 - 1;

  std::vector<at::Tensor> ll_levels, h_levels;
  std::vector<std::pair<int64_t, int64_t>> shapes;
  at::Tensor ll = x;
  for (int64_t i = 0; i < levels; ++i) {
    shapes.emplace_back(ll.size(2), ll.size(3));
    ll = PadToEven(ll);
    const int64_t h2 = ll.size(2) / 2, w2 = ll.size(3) / 2;
    at::Tensor bands = at::conv2d(ll, wt_filter, {}, 2, pad, 1, c).reshape({n, c, 4, h2, w2});
    ll = bands.select(2, 0);
    at::Tensor tag = level_scale(i).forward(level_conv(i).forward(bands.reshape({n, 4 * c, h2, w2})));
    tag = tag.reshape({n, c, 4, h2, w2});
    ll_levels.push_back(tag.select(2, 0));
    h_levels.push_back(tag.slice(2, 1, 4));
  }
  at::Tensor next;
  for (int64_t i = levels - 1; i >= 0; --i) {
    at::Tensor cur_ll = next.defined() ? ll_levels[i] + next : ll_levels[i];
    at::Tensor cur = at::cat({cur_ll.unsqueeze(2), h_levels[i]}, 2);
    const int64_t h2 = cur.size(3), w2 = cur.size(4);
    next = at::conv_transpose2d(cur.reshape({n, 4 * c, h2, w2}), iwt_filter, {}, 2, pad, 0, c);
    next = next.index({Slice(), Slice(), Slice(None, shapes[i].first), Slice(None, shapes[i].second)});
  }
  at::Tensor out = base_scale->forward(base_conv->forward(x));
  if (next.defined()) out = out + next;
  if (options.stride() > 1) out = at::avg_pool2d(out, 1, options.stride());
  return out;
}

at::Tensor WTConv2dImpl::forward_haar(const at::Tensor& x) {
  TORCH_CHECK(IsHaarWavelet(options.wavelet()), "WTConv2d: forward_haar needs wavelet db1/haar, not ",
              options.wavelet());
  // Filled in by the fast-path commit; until then the reference algorithm.
  return forward_general(x);
}

}  // namespace wtserve::nn
