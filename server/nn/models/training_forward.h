// Autograd-friendly forms of the depthwise layers, used only while training (module in train
// mode with grad enabled). They compute the same function with the same parameters as the
// modules' own forward(); they exist because LibTorch 1.13's CPU backward of these layers is slow
// at the small feature maps of compact models (measured on wtconvnext_fmnist / convnext_fmnist,
// batch 128, one thread; docs/models.md "Training speed").
#ifndef WTSERVE_SERVER_NN_MODELS_TRAINING_FORWARD_H_
#define WTSERVE_SERVER_NN_MODELS_TRAINING_FORWARD_H_

#include <cstdint>

#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include "server/nn/wtconv/wtconv2d.h"

namespace wtserve::nn {

// Feature maps with at most this many pixels (H*W) run as one batched matmul per channel.
inline constexpr int64_t kSmallMapPixels = 16;

// A depthwise Conv2d (groups == in == out channels, stride 1, dilation 1, odd square kernel,
// "same" zero padding: kSame or (k-1)/2 on each side) on x [N, C, H, W] float, returning
// [N, C, H, W].
// - H*W <= kSmallMapPixels: the convolution as a per-channel [HW, HW] matrix gathered from the
//   kernel taps (a Toeplitz matrix), applied with one bmm to all N images. At 2x2-4x4 maps the
//   oneDNN depthwise backward is 4-8x slower than this.
// - larger maps: conv.forward on a channels_last copy of x (about 2x faster backward than NCHW
//   for depthwise kernels); the result is channels_last.
// Any other convolution (or padding) is passed to conv.forward unchanged.
torch::Tensor DepthwiseConv2dTrainingForward(torch::nn::Conv2dImpl& conv, const torch::Tensor& x);

// WTConv2d's function for training: the db1 (Haar) analysis and synthesis as 4x4 matmuls over
// reshaped 2x2 blocks (backward made of matmuls and permutes) and every depthwise conv through
// DepthwiseConv2dTrainingForward. WTConv2d::forward's inference fast path (strided-view adds)
// and forward_general (grouped stride-2 conv / conv_transpose) both make the CPU backward 10x+
// slower (slice_backward / slow grouped conv backward dominate). Other wavelets fall back to
// forward_general. tests/models compares values and gradients with forward_general.
torch::Tensor WTConv2dTrainingForward(WTConv2dImpl& m, const torch::Tensor& x);

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_MODELS_TRAINING_FORWARD_H_
