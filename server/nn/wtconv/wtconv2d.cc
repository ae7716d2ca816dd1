#include "server/nn/wtconv/wtconv2d.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "server/nn/wtconv/fused_haar_cpu.h"
#include "server/nn/wtconv/haar_cpu.h"
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

// Depthwise conv with 'same' padding, stride 1. On small inputs (the deep levels) most taps of
// the kernel only ever meet zero padding; they are cropped away, which gives the same sums and
// keeps LibTorch 1.13 off its slow fallbacks (a 5x5 conv on a 1x1 input took ~0.6 ms for 1536
// channels here, a 2x2 one 0.06 ms). A 1x1 kernel becomes a per-channel multiply.
at::Tensor DepthwiseSame(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
  const int64_t c = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t top = (kh - 1) / 2, left = (kw - 1) / 2;
  const int64_t r0 = std::max<int64_t>(0, top - (x.size(2) - 1)), r1 = std::min<int64_t>(kh - 1, top + x.size(2) - 1);
  const int64_t c0 = std::max<int64_t>(0, left - (x.size(3) - 1)), c1 = std::min<int64_t>(kw - 1, left + x.size(3) - 1);
  const int64_t ch = r1 - r0 + 1, cw = c1 - c0 + 1, pad_h = top - r0, pad_w = left - c0;
  const bool cropped = ch < kh || cw < kw;
  if (!cropped || ch != 2 * pad_h + 1 || cw != 2 * pad_w + 1) return at::conv2d(x, w, bias, 1, "same", 1, c);
  const at::Tensor wc = w.slice(2, r0, r1 + 1).slice(3, c0, c1 + 1);
  if (ch == 1 && cw == 1) {
    at::Tensor y = x * wc.reshape({1, c, 1, 1});
    return bias.defined() ? y + bias.reshape({1, c, 1, 1}) : y;
  }
  return at::conv2d(x, wc.contiguous(), bias, 1, at::IntArrayRef{pad_h, pad_w}, 1, c);
}

// The synthesis of the general path: a stride-2 grouped conv_transpose2d (C groups of 4 bands).
// On CPU, bfloat16/float16 run it in float32 and round once. LibTorch 1.13 has no reduced-
// precision CPU kernel for it (slow_conv_transpose2d: "not implemented for 'BFloat16'"), except
// on CPUs with AVX-512 BW/VL/DQ, where it sends bfloat16 convolutions to oneDNN through
// at::mkldnn_convolution -- a forward convolution with no transposed mode, whose shape check
// rejects this weight ("Given groups=C, weight of size [4C, 1, f, f], expected input ... to have
// C channels"). tests/nn/libtorch_quirks_test.cc reproduces both, so an upgrade shows when this
// can go. Cost: two casts of a [N, 4C, h, w] tensor, next to a conv_transpose2d that is itself
// slow on CPU (docs/wtconv.md).
at::Tensor GroupedSynthesis(const at::Tensor& bands, const at::Tensor& filter, int64_t pad, int64_t groups) {
  const bool reduced = bands.scalar_type() == at::kBFloat16 || bands.scalar_type() == at::kHalf;
  if (bands.device().is_cpu() && reduced) {
    return at::conv_transpose2d(bands.to(at::kFloat), filter.to(at::kFloat), {}, 2, pad, 0, groups)
        .to(bands.scalar_type());
  }
  return at::conv_transpose2d(bands, filter, {}, 2, pad, 0, groups);
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

void ChannelScaleImpl::reset() { weight = register_parameter("weight", at::full(shape_, init_scale_, at::kFloat)); }

void ChannelScaleImpl::pretty_print(std::ostream& stream) const {
  stream << "wtserve::nn::ChannelScale(shape=" << c10::IntArrayRef(shape_) << ", init=" << init_scale_ << ")";
}

at::Tensor ChannelScaleImpl::forward(const at::Tensor& x) { return at::mul(weight, x); }

// ---------------------------------------------------------------------------------------------
WTConv2dImpl::WTConv2dImpl(const WTConv2dOptions& options_) : options(options_) { reset(); }

void WTConv2dImpl::reset() {
  // A fresh cache also for clones (Cloneable::clone copies the module, then calls reset()).
  fused_weights_ = std::make_shared<detail::FusedHaarWeightCache>();
  const int64_t c = options.channels();
  const int64_t k = options.kernel_size();
  if (c < 1) throw std::invalid_argument("WTConv2d: channels must be >= 1, got " + std::to_string(c));
  if (k < 1) throw std::invalid_argument("WTConv2d: kernel_size must be >= 1, got " + std::to_string(k));
  if (options.stride() < 1) {
    throw std::invalid_argument("WTConv2d: stride must be >= 1, got " + std::to_string(options.stride()));
  }
  if (options.wt_levels() < 0) {
    throw std::invalid_argument("WTConv2d: wt_levels must be >= 0, got " + std::to_string(options.wt_levels()));
  }
  // Throws std::invalid_argument listing the supported names.
  auto filters = CreateWaveletFilters(options.wavelet(), c);
  wt_filter = register_parameter("wt_filter", filters.first, /*requires_grad=*/false);
  iwt_filter = register_parameter("iwt_filter", filters.second, /*requires_grad=*/false);
  haar_tap_ = filters.first.index({0, 0, 0, 0}).item<double>();

  base_conv = register_module(
      "base_conv",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(c, c, k).padding(torch::kSame).groups(c).bias(options.bias())));
  base_scale = register_module("base_scale", ChannelScale(std::vector<int64_t>{1, c, 1, 1}, 1.0));
  wavelet_convs = torch::nn::ModuleList();
  wavelet_scale = torch::nn::ModuleList();
  for (int64_t i = 0; i < options.wt_levels(); ++i) {
    wavelet_convs->push_back(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(4 * c, 4 * c, k).padding(torch::kSame).groups(4 * c).bias(false)));
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
  TORCH_CHECK(x.size(1) == options.channels(), "WTConv2d: expected ", options.channels(), " input channels, got shape ",
              x.sizes());
  TORCH_CHECK(x.size(0) >= 1 && x.size(2) >= 1 && x.size(3) >= 1, "WTConv2d: expected N, H, W >= 1, got shape ",
              x.sizes());
  const at::Tensor& w = base_conv->weight;
  TORCH_CHECK(x.scalar_type() == w.scalar_type(), "WTConv2d: input dtype ", x.scalar_type(),
              " differs from the parameters' dtype ", w.scalar_type(), " (convert the module with ->to())");
  TORCH_CHECK(x.device() == w.device(), "WTConv2d: input is on ", x.device(), " but the parameters are on ", w.device(),
              " (move the module with ->to())");
}

at::Tensor WTConv2dImpl::forward(const at::Tensor& x) {
  return uses_fast_haar() ? forward_haar(x) : forward_general(x);
}

// The reference forward, op for op (docs/reference.md §1).
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
    next = GroupedSynthesis(cur.reshape({n, 4 * c, h2, w2}), iwt_filter, pad, c);
    next = next.index({Slice(), Slice(), Slice(None, shapes[i].first), Slice(None, shapes[i].second)});
  }
  at::Tensor out = base_scale->forward(base_conv->forward(x));
  if (next.defined()) out = out + next;
  if (options.stride() > 1) out = at::avg_pool2d(out, 1, options.stride());
  return out;
}

// Haar fast path. With a, b / c, d a 2x2 block and t the db1 filter tap (~1/2), the analysis
// bands are t(a+b+c+d), t(a+b-c-d), t(a-b+c-d), t(a-b-c+d) and the synthesis of bands
// (LL, LH, HL, HH) puts t(P+R), t(P-R) / t(Q+S), t(Q-S) into the block, with P = LL+LH,
// Q = LL-LH, R = HL+HH, S = HL-HH. We compute raw sums (no t) and fold every t, the per-band
// scale and the base scale into the depthwise conv weights (tiny tensors), so the big tensors
// only see adds:
//   S_j = raw sums of level j = m_j * true bands, with m_j = m_{j-1} / t (m_{-1} = 1);
//   V_j = conv(S_j, w_j * scale_j * c_j / m_j) = c_j * (true scaled conv output), c_j = t^(j+1);
//   raw synthesis of V_j (+ the raw synthesis of level j+1 accumulated into its LL band) is then
//   c_j / t times the reference's, which is exactly c_{j-1} (and 1 at level 0).
// The synthesis is accumulated in place into V_{j-1}'s LL band and, at level 0, into the base
// conv output, through strided views; nothing is padded, concatenated or cropped on the way up.
//
// Layout: everything runs channels_last (NHWC), where LibTorch's (oneDNN's) depthwise conv is
// several times faster than on NCHW (measured 7x at batch 1 on the CI machine), and the band
// tensors are band-major (channel s*C + c instead of the reference's 4c + s; the level weights
// are permuted to match), so each band is a channel slice whose inner dimension is contiguous
// and every add vectorises.
at::Tensor WTConv2dImpl::forward_haar(const at::Tensor& x_in) {
  TORCH_CHECK(IsHaarWavelet(options.wavelet()), "WTConv2d: forward_haar needs wavelet db1/haar, not ",
              options.wavelet());
  CheckInput(x_in);
  constexpr auto kNhwc = at::MemoryFormat::ChannelsLast;
  const at::MemoryFormat out_format = x_in.suggest_memory_format();
  const int64_t c = options.channels(), k = options.kernel_size();
  const int64_t levels = options.wt_levels(), stride = options.stride();
  const double t = haar_tap_;
  // The single-pass CPU kernels bypass autograd: only when no gradient can be asked for.
  bool need_grad = x_in.requires_grad() || base_conv->weight.requires_grad() || base_scale->weight.requires_grad() ||
                   (base_conv->bias.defined() && base_conv->bias.requires_grad());
  for (int64_t j = 0; j < levels; ++j) {
    need_grad = need_grad || level_conv(j).weight.requires_grad() || level_scale(j).weight.requires_grad();
  }
  const bool cpu_kernels = x_in.device().is_cpu() && !(at::GradMode::is_enabled() && need_grad);
  const bool bfloat16 = x_in.scalar_type() == at::kBFloat16;
  if (cpu_kernels && options.fused_cpu() && stride == 1 && levels >= 1 &&
      (x_in.scalar_type() == at::kFloat || bfloat16) && k <= detail::kFusedHaarMaxKernel) {
    detail::HaarLayerParams params;
    params.base_weight = base_conv->weight;
    params.base_bias = base_conv->bias;
    params.base_scale = base_scale->weight;
    for (int64_t j = 0; j < levels; ++j) {
      params.level_weight.push_back(level_conv(j).weight);
      params.level_scale.push_back(level_scale(j).weight);
    }
    params.tap = t;
    // bfloat16 runs the float32 kernel on the widened input and rounds once at the end: on CPUs
    // with AVX512-BF16 the per-level path's bf16 convolutions made WTConvNeXt-T 0.75x of
    // ConvNeXt-T's bf16 speed at batch 1 (docs/models.md), and one rounding is more accurate.
    if (bfloat16) {
      return detail::FusedHaarForwardCpu(x_in.to(at::kFloat), *fused_weights_->Get(params))
          .to(at::kBFloat16)
          .contiguous(out_format);
    }
    return detail::FusedHaarForwardCpu(x_in, *fused_weights_->Get(params)).contiguous(out_format);
  }
  const at::Tensor x = x_in.contiguous(kNhwc);
  const int64_t n = x.size(0);
  // Raw sums grow 4x per level; float16 would overflow on deep levels, so there the analysis is
  // kept at the reference's scale (one extra multiply per level).
  const bool rescale_analysis = x.scalar_type() == at::kHalf;
  // out= kernels are not differentiable; the analysis only depends on x.
  const bool analysis_out_ok = !(at::GradMode::is_enabled() && x.requires_grad());

  // Base branch: scale * (conv(x, w) + b) = conv(x, scale * w) + scale * b.
  const at::Tensor base_w = base_conv->weight * base_scale->weight.reshape({c, 1, 1, 1});
  at::Tensor base_b;
  if (base_conv->bias.defined()) base_b = base_conv->bias * base_scale->weight.reshape({c});
  at::Tensor y;
  if (stride == 1) {
    y = DepthwiseSame(x, base_w, base_b);
  } else {
    // Strided conv with 'same' alignment = subsampled stride-1 conv, without computing the rest.
    const int64_t left = (k - 1) / 2, right = k - 1 - left;
    if (left == right) {
      y = at::conv2d(x, base_w, base_b, stride, left, 1, c);
    } else {
      y = at::conv2d(at::constant_pad_nd(x, {left, right, left, right}), base_w, base_b, stride, at::IntArrayRef{0}, 1,
                     c);
    }
  }
  y = y.contiguous(kNhwc);
  if (levels == 0) return y.contiguous(out_format);

  // Analysis: raw 2x2 block sums, then the per-level depthwise conv with folded factors.
  std::vector<at::Tensor> v(levels);                       // [n, 4c, h_j, w_j], band-major, NHWC
  std::vector<std::pair<int64_t, int64_t>> sizes(levels);  // level input size before padding
  at::Tensor ll = x;
  double m = 1.0, cj = 1.0;
  for (int64_t j = 0; j < levels; ++j) {
    sizes[j] = {ll.size(2), ll.size(3)};
    const double m_raw = m / t;  // multiplier of raw sums of this level
    const double scale = rescale_analysis ? 1.0 / m_raw : 1.0;
    m = rescale_analysis ? 1.0 : m_raw;
    at::Tensor bands;  // [n, 4c, h, w]: LL, LH, HL, HH channel blocks
    if (cpu_kernels) {
      bands = detail::HaarAnalysisCpu(ll, scale);
    } else {
      const at::Tensor in = PadToEven(ll);
      const int64_t h = in.size(2) / 2, w = in.size(3) / 2;
      const at::Tensor top = in.slice(2, 0, None, 2), bottom = in.slice(2, 1, None, 2);
      const at::Tensor p = top + bottom, q = top - bottom;  // [n, c, h, 2w]
      const at::Tensor pe = p.slice(3, 0, None, 2), po = p.slice(3, 1, None, 2);
      const at::Tensor qe = q.slice(3, 0, None, 2), qo = q.slice(3, 1, None, 2);
      if (analysis_out_ok) {
        bands = at::empty({n, 4 * c, h, w}, x.options().memory_format(kNhwc));
        at::Tensor b0 = bands.narrow(1, 0, c), b1 = bands.narrow(1, c, c);
        at::Tensor b2 = bands.narrow(1, 2 * c, c), b3 = bands.narrow(1, 3 * c, c);
        at::add_out(b0, pe, po);
        at::add_out(b1, qe, qo);
        at::sub_out(b2, pe, po);
        at::sub_out(b3, qe, qo);
        if (scale != 1.0) bands.mul_(scale);
      } else {
        bands = at::cat({pe + po, qe + qo, pe - po, qe - qo}, 1).contiguous(kNhwc);
        if (scale != 1.0) bands = bands * scale;
      }
    }
    cj *= t;
    ll = bands.narrow(1, 0, c);
    // Reference channel 4c+s -> band-major s*C+c.
    const at::Tensor w_bm = level_conv(j).weight.reshape({c, 4, 1, k, k}).transpose(0, 1).reshape({4 * c, 1, k, k});
    const at::Tensor s_bm = level_scale(j).weight.reshape({c, 4}).t().reshape({4 * c, 1, 1, 1});
    v[j] = DepthwiseSame(bands, w_bm * (s_bm * (cj / m)), {}).contiguous(kNhwc);
  }

  // Synthesis, deepest level first, accumulated into the level above.
  for (int64_t j = levels - 1; j >= 0; --j) {
    const int64_t h = v[j].size(2), w = v[j].size(3);
    const at::Tensor lo = v[j].narrow(1, 0, c), lh = v[j].narrow(1, c, c);
    const at::Tensor hl = v[j].narrow(1, 2 * c, c), hh = v[j].narrow(1, 3 * c, c);
    if (j == 0 && stride > 1 && stride % 2 == 0) {
      // Output pixel (i*s, j*s) is the top-left pixel of block (i*s/2, j*s/2): t(P+R) only.
      const int64_t b = stride / 2;
      auto sub = [b](const at::Tensor& z) { return z.slice(2, 0, None, b).slice(3, 0, None, b); };
      y.add_(sub(lo)).add_(sub(lh)).add_(sub(hl)).add_(sub(hh));
      break;
    }
    const int64_t hi_rows = sizes[j].first / 2, hi_cols = sizes[j].second / 2;  // odd rows/cols of the target
    at::Tensor target;
    at::Tensor full;  // odd stride: synthesise at full size, subsample afterwards
    if (j > 0) {
      target = v[j - 1].narrow(1, 0, c);
    } else if (stride == 1) {
      target = y;
    } else {
      full = at::empty({n, c, sizes[0].first, sizes[0].second}, y.options().memory_format(kNhwc)).zero_();
      target = full;
    }
    if (cpu_kernels) {
      detail::HaarSynthesisAddCpu(v[j].contiguous(kNhwc), target);
    } else {
      const at::Tensor pp = lo + lh, qq = lo - lh, rr = hl + hh, ss = hl - hh;
      auto crop = [](const at::Tensor& z, int64_t rows, int64_t cols) { return z.slice(2, 0, rows).slice(3, 0, cols); };
      target.slice(2, 0, None, 2).slice(3, 0, None, 2).add_(pp).add_(rr);
      if (hi_cols > 0) {
        target.slice(2, 0, None, 2).slice(3, 1, None, 2).add_(crop(pp, h, hi_cols)).sub_(crop(rr, h, hi_cols));
      }
      if (hi_rows > 0) {
        target.slice(2, 1, None, 2).slice(3, 0, None, 2).add_(crop(qq, hi_rows, w)).add_(crop(ss, hi_rows, w));
      }
      if (hi_rows > 0 && hi_cols > 0) {
        target.slice(2, 1, None, 2)
            .slice(3, 1, None, 2)
            .add_(crop(qq, hi_rows, hi_cols))
            .sub_(crop(ss, hi_rows, hi_cols));
      }
    }
    if (full.defined()) y.add_(full.slice(2, 0, None, stride).slice(3, 0, None, stride));
  }
  // Same memory format as the input (PyTorch's convention for convolutions): channels_last
  // inputs avoid both layout copies.
  return y.contiguous(out_format);
}

}  // namespace wtserve::nn
