#include "server/nn/models/training_forward.h"

#include <type_traits>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/modules/conv.h>

namespace wtserve::nn {
namespace {

// index[o * HW + i] = the kernel tap that links input pixel i to output pixel o under "same"
// zero padding, or k*k (a zero tap appended to the kernel) where they are not linked.
std::vector<int64_t> ToeplitzTapIndex(int64_t h, int64_t w, int64_t k) {
  const int64_t pixels = h * w, pad = (k - 1) / 2;
  std::vector<int64_t> index(pixels * pixels, k * k);
  for (int64_t oy = 0; oy < h; ++oy) {
    for (int64_t ox = 0; ox < w; ++ox) {
      for (int64_t iy = 0; iy < h; ++iy) {
        for (int64_t ix = 0; ix < w; ++ix) {
          const int64_t ky = iy - oy + pad, kx = ix - ox + pad;
          if (ky >= 0 && ky < k && kx >= 0 && kx < k) {
            index[(oy * w + ox) * pixels + iy * w + ix] = ky * k + kx;
          }
        }
      }
    }
  }
  return index;
}

// A depthwise conv over `channels` with stride 1, dilation 1, an odd square kernel and "same" zero
// padding (kSame, or (k-1)/2 on each side): the only kind the small-map form computes.
// Unqualified visit: ADL picks c10::visit for LibTorch 1.13's c10::variant options and
// std::visit where LibTorch 2.x uses std::variant.
bool IsSameDepthwise(const torch::nn::Conv2dImpl& conv, int64_t channels) {
  const auto& o = conv.options;
  const int64_t k = conv.weight.size(2);
  if (o.groups() != channels || o.in_channels() != channels || o.out_channels() != channels ||
      conv.weight.size(3) != k || k % 2 == 0 || (*o.stride())[0] != 1 || (*o.stride())[1] != 1 ||
      (*o.dilation())[0] != 1 || (*o.dilation())[1] != 1) {
    return false;
  }
  const bool zeros =
      visit([](const auto& mode) { return std::is_same_v<std::decay_t<decltype(mode)>, torch::enumtype::kZeros>; },
            o.padding_mode());
  const bool same = visit(
      [k](const auto& padding) {
        using Padding = std::decay_t<decltype(padding)>;
        if constexpr (std::is_same_v<Padding, torch::enumtype::kSame>) {
          return true;
        } else if constexpr (std::is_same_v<Padding, torch::enumtype::kValid>) {
          return k == 1;
        } else {
          return (*padding)[0] == (k - 1) / 2 && (*padding)[1] == (k - 1) / 2;
        }
      },
      o.padding());
  return zeros && same;
}

}  // namespace

torch::Tensor DepthwiseConv2dTrainingForward(torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  if (x.dim() != 4 || !IsSameDepthwise(conv, x.size(1))) return conv.forward(x);
  const int64_t c = x.size(1), k = conv.weight.size(2);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), pixels = h * w;
  if (pixels > kSmallMapPixels) return conv.forward(x.contiguous(at::MemoryFormat::ChannelsLast));

  const std::vector<int64_t> index = ToeplitzTapIndex(h, w, k);
  const torch::Tensor& weight = conv.weight;
  const torch::Tensor taps = at::cat({weight.reshape({c, k * k}), at::zeros({c, 1}, weight.options())}, 1);
  const torch::Tensor matrices =
      taps.index_select(1, at::tensor(index, at::TensorOptions().dtype(at::kLong))).view({c, pixels, pixels});
  const torch::Tensor columns = x.reshape({n, c, pixels}).permute({1, 2, 0}).contiguous();  // [C, HW, N]
  torch::Tensor y = at::bmm(matrices, columns).permute({2, 0, 1}).reshape({n, c, h, w});
  if (conv.bias.defined()) y = y + conv.bias.view({1, c, 1, 1});
  return y;
}

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
    const torch::Tensor bands = at::matmul(blocks, analysis.t()).permute({0, 1, 4, 2, 3}).reshape({n, 4 * c, h2, w2});
    ll = at::matmul(blocks, ll_row).squeeze(-1);
    auto* conv = m.wavelet_convs[i]->as<torch::nn::Conv2dImpl>();
    auto* scale = m.wavelet_scale[i]->as<ChannelScaleImpl>();
    tags.push_back(scale->forward(DepthwiseConv2dTrainingForward(*conv, bands)));
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
  torch::Tensor y = m.base_scale->forward(DepthwiseConv2dTrainingForward(*m.base_conv, x));
  if (next.defined()) y = y + next;
  const int64_t stride = m.options.stride();
  if (stride > 1) y = y.slice(2, 0, c10::nullopt, stride).slice(3, 0, c10::nullopt, stride);
  return y;
}

}  // namespace wtserve::nn
