#include "server/nn/models/init.h"

#include <cmath>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

namespace wtserve::nn {

void TruncNormal_(torch::Tensor& t, double std) {
  torch::NoGradGuard no_grad;
  // Uniform on [cdf(-2), cdf(2)] mapped through the inverse normal CDF.
  const double lo = 0.5 * (1.0 + std::erf(-2.0 / std::sqrt(2.0)));
  const double hi = 0.5 * (1.0 + std::erf(2.0 / std::sqrt(2.0)));
  t.uniform_(2.0 * lo - 1.0, 2.0 * hi - 1.0);
  t.erfinv_();
  t.mul_(std * std::sqrt(2.0));
  t.clamp_(-2.0 * std, 2.0 * std);
}

void InitConvLinearTruncNormal(torch::nn::Module& module, double std) {
  torch::NoGradGuard no_grad;
  // include_self=false: this runs inside constructors, before a shared_ptr owns the module (and
  // the top-level module is never a Conv2d or Linear itself).
  for (const auto& m : module.modules(/*include_self=*/false)) {
    torch::Tensor weight, bias;
    if (auto* conv = m->as<torch::nn::Conv2dImpl>()) {
      weight = conv->weight;
      bias = conv->bias;
    } else if (auto* linear = m->as<torch::nn::LinearImpl>()) {
      weight = linear->weight;
      bias = linear->bias;
    } else {
      continue;
    }
    if (weight.defined() && weight.requires_grad()) TruncNormal_(weight, std);
    if (bias.defined() && bias.requires_grad()) bias.zero_();
  }
}

}  // namespace wtserve::nn
