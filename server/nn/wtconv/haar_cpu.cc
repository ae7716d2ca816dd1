#include "server/nn/wtconv/haar_cpu.h"

#include <algorithm>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Functions.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

namespace wtserve::nn::detail {
namespace {

// Rows of blocks per task: about 32K elements, like TensorIterator's grain.
int64_t Grain(int64_t elements_per_row) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, elements_per_row)); }

}  // namespace

at::Tensor HaarAnalysisCpu(const at::Tensor& in, double scale) {
  TORCH_CHECK(in.device().is_cpu() && in.dim() == 4 && (in.size(1) == 1 || in.stride(1) == 1),
              "HaarAnalysisCpu: expected a CPU [N, C, H, W] tensor with channel stride 1");
  const int64_t n = in.size(0), c = in.size(1), height = in.size(2), width = in.size(3);
  const int64_t h = (height + 1) / 2, w = (width + 1) / 2;
  at::Tensor out = at::empty({n, 4 * c, h, w}, in.options().memory_format(at::MemoryFormat::ChannelsLast));
  const int64_t sn = in.stride(0), sh = in.stride(2), sw = in.stride(3);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, in.scalar_type(), "HaarAnalysisCpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* src = in.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    const acc_t s = static_cast<acc_t>(scale);
    at::parallel_for(0, n * h, Grain(w * 4 * c), [&](int64_t begin, int64_t end) {
      const std::vector<scalar_t> zeros(c, scalar_t(0));  // the zero padding of odd sizes
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / h, i = row % h;
        const scalar_t* top = src + b * sn + 2 * i * sh;
        const bool has_bottom = 2 * i + 1 < height;
        scalar_t* o = dst + row * w * 4 * c;
        for (int64_t j = 0; j < w; ++j, o += 4 * c) {
          const bool has_right = 2 * j + 1 < width;
          const scalar_t* pa = top + 2 * j * sw;
          const scalar_t* pb = has_right ? pa + sw : zeros.data();
          const scalar_t* pc = has_bottom ? pa + sh : zeros.data();
          const scalar_t* pd = has_bottom && has_right ? pa + sh + sw : zeros.data();
          for (int64_t k = 0; k < c; ++k) {
            // Same association as the torch-op path: (a+c) +- (b+d), (a-c) +- (b-d).
            const acc_t pe = acc_t(pa[k]) + acc_t(pc[k]), po = acc_t(pb[k]) + acc_t(pd[k]);
            const acc_t qe = acc_t(pa[k]) - acc_t(pc[k]), qo = acc_t(pb[k]) - acc_t(pd[k]);
            o[k] = static_cast<scalar_t>((pe + po) * s);
            o[c + k] = static_cast<scalar_t>((qe + qo) * s);
            o[2 * c + k] = static_cast<scalar_t>((pe - po) * s);
            o[3 * c + k] = static_cast<scalar_t>((qe - qo) * s);
          }
        }
      }
    });
  });
  return out;
}

void HaarSynthesisAddCpu(const at::Tensor& v, at::Tensor& target) {
  TORCH_CHECK(v.device().is_cpu() && target.device().is_cpu() && v.dim() == 4 && target.dim() == 4,
              "HaarSynthesisAddCpu: expected CPU 4-D tensors");
  TORCH_CHECK(v.is_contiguous(at::MemoryFormat::ChannelsLast), "HaarSynthesisAddCpu: v must be channels_last");
  TORCH_CHECK(target.size(1) == 1 || target.stride(1) == 1, "HaarSynthesisAddCpu: target needs channel stride 1");
  TORCH_CHECK(v.scalar_type() == target.scalar_type(), "HaarSynthesisAddCpu: dtype mismatch");
  const int64_t n = v.size(0), c = target.size(1), h = v.size(2), w = v.size(3);
  const int64_t height = target.size(2), width = target.size(3);
  TORCH_CHECK(v.size(1) == 4 * c && target.size(0) == n && (height + 1) / 2 == h && (width + 1) / 2 == w,
              "HaarSynthesisAddCpu: shape mismatch ", v.sizes(), " vs ", target.sizes());
  const int64_t sn = target.stride(0), sh = target.stride(2), sw = target.stride(3);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, v.scalar_type(), "HaarSynthesisAddCpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* src = v.data_ptr<scalar_t>();
    scalar_t* dst = target.data_ptr<scalar_t>();
    at::parallel_for(0, n * h, Grain(w * 4 * c), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / h, i = row % h;
        const bool has_bottom = 2 * i + 1 < height;
        const scalar_t* in = src + row * w * 4 * c;
        scalar_t* top = dst + b * sn + 2 * i * sh;
        for (int64_t j = 0; j < w; ++j, in += 4 * c) {
          const bool has_right = 2 * j + 1 < width;
          scalar_t* ta = top + 2 * j * sw;
          scalar_t* tb = has_right ? ta + sw : nullptr;
          scalar_t* tc = has_bottom ? ta + sh : nullptr;
          if (has_bottom && has_right) {
            scalar_t* td = ta + sh + sw;
            for (int64_t k = 0; k < c; ++k) {
              const acc_t p = acc_t(in[k]) + acc_t(in[c + k]), q = acc_t(in[k]) - acc_t(in[c + k]);
              const acc_t r = acc_t(in[2 * c + k]) + acc_t(in[3 * c + k]);
              const acc_t s = acc_t(in[2 * c + k]) - acc_t(in[3 * c + k]);
              ta[k] = static_cast<scalar_t>(acc_t(ta[k]) + (p + r));
              tb[k] = static_cast<scalar_t>(acc_t(tb[k]) + (p - r));
              tc[k] = static_cast<scalar_t>(acc_t(tc[k]) + (q + s));
              td[k] = static_cast<scalar_t>(acc_t(td[k]) + (q - s));
            }
          } else {
            for (int64_t k = 0; k < c; ++k) {
              const acc_t p = acc_t(in[k]) + acc_t(in[c + k]), q = acc_t(in[k]) - acc_t(in[c + k]);
              const acc_t r = acc_t(in[2 * c + k]) + acc_t(in[3 * c + k]);
              const acc_t s = acc_t(in[2 * c + k]) - acc_t(in[3 * c + k]);
              ta[k] = static_cast<scalar_t>(acc_t(ta[k]) + (p + r));
              if (has_right) tb[k] = static_cast<scalar_t>(acc_t(tb[k]) + (p - r));
              if (has_bottom) tc[k] = static_cast<scalar_t>(acc_t(tc[k]) + (q + s));
            }
          }
        }
      }
    });
  });
}

}  // namespace wtserve::nn::detail
