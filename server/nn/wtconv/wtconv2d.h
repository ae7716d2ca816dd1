// WTConv2d: a depthwise convolution with a wavelet-domain large receptive field, as a LibTorch
// module that computes what the reference layer computes and loads its state_dict 1:1.
//
// Source: S. E. Finder, R. Amoyal, E. Treister, O. Freifeld, "Wavelet Convolutions for Large
// Receptive Fields", ECCV 2024 (arXiv 2407.05848). Reference code: BGU-CS-VIL/WTConv (MIT),
// wtconv/wtconv2d.py; its semantics are restated below. Design and measurements:
// docs/wtconv.md.
//
// Forward, input x [N, C, H, W] (any N, H, W >= 1):
//   1. ll = x; for level i in 0..L-1: zero-pad ll on the right/bottom to even H, W; analysis =
//      stride-2 grouped conv with wt_filter (zero padding f/2-1) -> 4 bands per channel
//      (channel 4c+s = band s of channel c; s = LL, LH, HL, HH); next ll = the unfiltered LL band;
//      the 4C bands go through wavelet_convs[i] (depthwise k x k, 'same', no bias) and
//      wavelet_scale[i] (per-channel multiply, init 0.1).
//   2. from the deepest level up: LL_i += (synthesis of level i+1); synthesis = stride-2 grouped
//      conv_transpose with iwt_filter (padding f/2-1), cropped to level i's size before padding.
//   3. out = base_scale * base_conv(x) + synthesis of level 0 (base_conv: depthwise k x k,
//      'same', stride 1, optional bias; base_scale init 1.0).
//   4. stride s > 1 subsamples the sum: out[:, :, ::s, ::s] -> [N, C, ceil(H/s), ceil(W/s)].
// wt_levels = 0 is a scaled depthwise conv. Every level size works: a 1x1 band pads to 2x2 and
// analyses to 1x1 again, so L is not bounded by H, W (levels past log2(max(H, W)) see 1x1 bands).
// For wavelets longer than db1 the reference's padding is not a perfect-reconstruction DWT; we
// match it on purpose (see wavelets.h).
//
// Paths. forward() picks the Haar fast path for "db1"/"haar" (unless fast_haar(false)): the
// analysis and synthesis are sums and differences of 2x2 blocks, the per-band scales and the
// Haar gains are folded into the depthwise conv weights, and the synthesis is accumulated in
// place into the base conv's output. On CPU, when no gradient can be asked for (NoGradGuard /
// InferenceMode, or nothing requires grad), float32 at stride 1 runs the fused kernel
// (fused_haar_cpu.h: one pass per level, AVX-512/AVX2/baseline picked at run time); other
// dtypes and strides run the analysis and synthesis of a level as one single-pass kernel each
// (haar_cpu.h); otherwise, and on other devices, differentiable torch ops on strided views. Depthwise convs on levels
// smaller than the kernel drop the taps that only meet padding. The path computes in channels_last (NHWC), where the
// depthwise convs are several times faster on CPU, and returns the input's memory format: feed channels_last tensors
// (x.contiguous(at::MemoryFormat::ChannelsLast)) to skip the two layout copies an NCHW input costs. Otherwise, and via
// forward_general(), the layer runs the reference algorithm op for op (NCHW). The two agree to ~1.5e-6 in fp32
// (tests/nn).
//
// Parameters, in registration (= state_dict) order, names and shapes as in the reference:
//   wt_filter [4C, 1, f, f], iwt_filter [4C, 1, f, f]   frozen (requires_grad false) but saved;
//   base_conv.weight [C, 1, k, k], base_conv.bias [C] (if bias), base_scale.weight [1, C, 1, 1],
//   wavelet_convs.{i}.weight [4C, 1, k, k], wavelet_scale.{i}.weight [1, 4C, 1, 1].
// f = 2 for db1. Trainable parameters per channel: k*k + 2 + L*4*(k*k + 1) (27 + 104 L at k = 5
// with bias).
//
// Dtypes/devices: float32, float64, and float16/bfloat16 where LibTorch implements the
// depthwise conv for them on the tensor's device (CUDA: all; CPU LibTorch 1.13: no float16 conv,
// bfloat16 yes, on both paths and every CPU: the general path's synthesis then runs in float32,
// see GroupedSynthesis in wtconv2d.cc). Input and parameters must have the same dtype and
// device (module->to(...)). Trainable (autograd through both paths). forward() does not modify the module, so
// concurrent calls on one module (e.g. from several serving threads) are safe.
//
// Errors: construction throws std::invalid_argument for channels < 1, in_channels !=
// out_channels, kernel_size < 1, stride < 1, wt_levels < 0 or an unknown wavelet. forward()
// throws c10::Error (a std::exception) for an input that is not 4-D, has a channel count other
// than C, an empty dimension, or a dtype/device other than the parameters'.
#ifndef WTSERVE_SERVER_NN_WTCONV_WTCONV2D_H_
#define WTSERVE_SERVER_NN_WTCONV_WTCONV2D_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace wtserve::nn::detail {
class FusedHaarWeightCache;  // fused_haar_cpu.h
}  // namespace wtserve::nn::detail

namespace wtserve::nn {

struct WTConv2dOptions {
  // Depthwise: in = out = channels.
  explicit WTConv2dOptions(int64_t channels) : channels_(channels) {}
  // The reference's (in_channels, out_channels) form; throws std::invalid_argument unless equal.
  WTConv2dOptions(int64_t in_channels, int64_t out_channels);

  TORCH_ARG(int64_t, channels);
  // Side of the square depthwise kernels (base and per level), >= 1.
  TORCH_ARG(int64_t, kernel_size) = 5;
  // Output subsampling, >= 1.
  TORCH_ARG(int64_t, stride) = 1;
  // Bias of base_conv.
  TORCH_ARG(bool, bias) = true;
  // Number of wavelet levels L, >= 0.
  TORCH_ARG(int64_t, wt_levels) = 1;
  // One of SupportedWavelets() (wavelets.h).
  TORCH_ARG(std::string, wavelet) = "db1";
  // Let forward() use the 2x2-block Haar path for db1/haar. false forces the reference
  // algorithm (tests, benchmarks). Does not change parameters or results beyond rounding.
  TORCH_ARG(bool, fast_haar) = true;
  // Let the Haar path use the fused CPU kernel (fused_haar_cpu.h) for float32 inference at
  // stride 1. false keeps the per-level kernels (tests, benchmarks). Results differ by rounding.
  TORCH_ARG(bool, fused_cpu) = true;
};

// The reference's _ScaleModule: out = weight * x with weight of a fixed broadcastable shape.
class ChannelScaleImpl : public torch::nn::Cloneable<ChannelScaleImpl> {
 public:
  ChannelScaleImpl(std::vector<int64_t> shape, double init_scale);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;

 private:
  std::vector<int64_t> shape_;
  double init_scale_;
};
TORCH_MODULE(ChannelScale);

class WTConv2dImpl : public torch::nn::Cloneable<WTConv2dImpl> {
 public:
  explicit WTConv2dImpl(int64_t channels) : WTConv2dImpl(WTConv2dOptions(channels)) {}
  explicit WTConv2dImpl(const WTConv2dOptions& options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  // x [N, C, H, W] -> [N, C, ceil(H/stride), ceil(W/stride)], same dtype and device.
  torch::Tensor forward(const torch::Tensor& x);
  // The reference algorithm (grouped conv / conv_transpose), whatever the wavelet.
  torch::Tensor forward_general(const torch::Tensor& x);
  // The 2x2-block Haar path; throws std::logic_error unless the wavelet is db1/haar.
  torch::Tensor forward_haar(const torch::Tensor& x);
  // Whether forward() takes the Haar path.
  bool uses_fast_haar() const;

  WTConv2dOptions options;
  torch::Tensor wt_filter;
  torch::Tensor iwt_filter;
  torch::nn::Conv2d base_conv{nullptr};
  ChannelScale base_scale{nullptr};
  torch::nn::ModuleList wavelet_convs{nullptr};
  torch::nn::ModuleList wavelet_scale{nullptr};

 private:
  void CheckInput(const torch::Tensor& x) const;

  torch::nn::Conv2dImpl& level_conv(int64_t i);
  ChannelScaleImpl& level_scale(int64_t i);

  // db1 filter tap as float32 (0.49999997f, not 0.5: the reference rounds 1/sqrt(2) to float
  // and squares it), so the fast path scales exactly like the filters it replaces.
  double haar_tap_ = 0.5;
  // The fused CPU kernel's folded weights, made once per parameter version (fused_haar_cpu.h).
  std::shared_ptr<detail::FusedHaarWeightCache> fused_weights_;
};
TORCH_MODULE(WTConv2d);

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_WTCONV_WTCONV2D_H_
