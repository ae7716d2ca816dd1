// Weight initialisation shared by the model families.
#ifndef WTSERVE_SERVER_NN_MODELS_INIT_H_
#define WTSERVE_SERVER_NN_MODELS_INIT_H_

#include <torch/nn/module.h>
#include <torch/types.h>

namespace wtserve::nn {

// Fills `t` in place with N(0, std^2) truncated to [-2 std, 2 std] (timm's trunc_normal_ with
// its default bounds a = -2, b = 2 taken in units of std), by inverse-CDF sampling.
void TruncNormal_(torch::Tensor& t, double std);

// timm's ConvNeXt init: every Conv2d and Linear weight in `module` (recursively, WTConv2d's
// depthwise convs included) ~ trunc_normal(std 0.02), their biases zero. Frozen parameters
// (requires_grad false, e.g. wavelet filters) are left alone.
void InitConvLinearTruncNormal(torch::nn::Module& module, double std = 0.02);

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_MODELS_INIT_H_
