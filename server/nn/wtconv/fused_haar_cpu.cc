#include "server/nn/wtconv/fused_haar_cpu.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include "server/nn/wtconv/fused_haar_kernel.h"

namespace wtserve::nn::detail {
namespace {

// Every kernel set compiled in that this CPU can run, widest first.
const std::vector<FusedHaarKernels>& Available() {
  static const std::vector<FusedHaarKernels> available = [] {
    std::vector<FusedHaarKernels> list;
#if defined(__x86_64__) && defined(WTSERVE_FUSED_HAAR_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) list.push_back(FusedHaarKernelsAvx512());
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) list.push_back(FusedHaarKernelsAvx2());
#endif
    list.push_back(FusedHaarKernelsBaseline());
    return list;
  }();
  return available;
}

const FusedHaarKernels& Kernels(const std::string& isa) {
  for (const FusedHaarKernels& k : Available()) {
    if (isa.empty() || isa == k.isa) return k;
  }
  TORCH_CHECK(false, "FusedHaarForwardCpu: ISA '", isa, "' is not compiled in or not supported by this CPU");
}

// Tap-major copy [k*k][C] of depthwise weights [C, 1, k, k] (channel c's weights start at
// first_channel + c * channel_step), each channel times factor[c].
std::vector<float> TapMajor(const float* w, const float* factor, int64_t c, int64_t kk, int64_t first_channel,
                            int64_t channel_step, float scalar) {
  std::vector<float> out(kk * c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const int64_t src = first_channel + ch * channel_step;
    const float f = factor[src] * scalar;
    for (int64_t tap = 0; tap < kk; ++tap) out[tap * c + ch] = w[src * kk + tap] * f;
  }
  return out;
}

// Splits band rows [0, rows) of each of n images into tasks, at least 4 rows each (the ring
// buffer recomputes up to k - 1 halo rows per task) and about four per thread in all.
void ParallelRows(int64_t n, int64_t rows, const std::function<void(int64_t, int64_t, int64_t)>& body) {
  const int64_t target = 4 * static_cast<int64_t>(at::get_num_threads());
  const int64_t per_image = std::max<int64_t>(1, std::min<int64_t>(rows / 4, (target + n - 1) / n));
  const int64_t chunk = (rows + per_image - 1) / per_image;
  at::parallel_for(0, n * per_image, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t image = task / per_image, first = (task % per_image) * chunk;
      if (first < rows) body(image, first, std::min(rows, first + chunk));
    }
  });
}

}  // namespace

const char* FusedHaarIsa() { return Available().front().isa; }

std::vector<std::string> FusedHaarIsas() {
  std::vector<std::string> names;
  for (const FusedHaarKernels& k : Available()) names.emplace_back(k.isa);
  return names;
}

int64_t FusedLevelScratchFloats(const FusedLevelArgs& args) {
  // k + 1 padded input rows and a padded zero row; k + 1 slots of three padded band rows and
  // two times three convolved band rows (the layout LevelRows in fused_haar_kernel.cc uses).
  const int64_t k = args.kernel, c = args.channels, w = (args.width + 1) / 2;
  return (k + 2) * (args.width + k - 1) * c + 3 * (k + 1) * (w + k - 1) * c + 6 * w * c;
}

at::Tensor FusedHaarForwardCpu(const at::Tensor& x_in, const HaarLayerParams& p, const std::string& isa) {
  TORCH_CHECK(x_in.device().is_cpu() && x_in.scalar_type() == at::kFloat && x_in.dim() == 4,
              "FusedHaarForwardCpu: expected a float32 CPU [N, C, H, W] tensor");
  const int64_t levels = static_cast<int64_t>(p.level_weight.size());
  const int64_t c = p.base_weight.size(0), k = p.base_weight.size(2), kk = k * k;
  TORCH_CHECK(levels >= 1 && static_cast<int64_t>(p.level_scale.size()) == levels && x_in.size(1) == c,
              "FusedHaarForwardCpu: parameters do not match the input");
  TORCH_CHECK(k <= kFusedHaarMaxKernel && p.base_weight.size(3) == k, "FusedHaarForwardCpu: kernel ", k, "x",
              p.base_weight.size(3), " not supported");
  const FusedHaarKernels& kernels = Kernels(isa);
  constexpr auto kNhwc = at::MemoryFormat::ChannelsLast;
  const at::Tensor x = x_in.contiguous(kNhwc);
  const int64_t n = x.size(0);

  // Folded weights (see wtconv2d.cc's forward_haar for the derivation of the factors).
  const at::Tensor base_w = p.base_weight.contiguous(), base_s = p.base_scale.contiguous();
  const std::vector<float> direct0 = TapMajor(base_w.data_ptr<float>(), base_s.data_ptr<float>(), c, kk, 0, 1, 1.f);
  std::vector<float> bias0;
  if (p.base_bias.defined()) {
    const at::Tensor b = p.base_bias.contiguous();
    bias0.resize(c);
    for (int64_t ch = 0; ch < c; ++ch) bias0[ch] = b.data_ptr<float>()[ch] * base_s.data_ptr<float>()[ch];
  }
  std::vector<std::vector<float>> level_w(levels);  // [4][k*k][C] per level, bands LL, LH, HL, HH
  double m = 1.0, cj = 1.0;
  for (int64_t j = 0; j < levels; ++j) {
    m /= p.tap;
    cj *= p.tap;
    const at::Tensor w = p.level_weight[j].contiguous(), s = p.level_scale[j].contiguous();
    TORCH_CHECK(w.size(0) == 4 * c && w.size(2) == k && w.size(3) == k && s.numel() == 4 * c,
                "FusedHaarForwardCpu: level ", j, " parameters have the wrong shape");
    level_w[j].reserve(4 * kk * c);
    for (int64_t band = 0; band < 4; ++band) {
      const std::vector<float> part =
          TapMajor(w.data_ptr<float>(), s.data_ptr<float>(), c, kk, band, 4, static_cast<float>(cj / m));
      level_w[j].insert(level_w[j].end(), part.begin(), part.end());
    }
  }

  // I_1 .. I_L: raw LL bands.
  std::vector<at::Tensor> inputs{x};
  for (int64_t j = 0; j < levels; ++j) {
    const at::Tensor& in = inputs.back();
    const int64_t height = in.size(2), width = in.size(3), h = (height + 1) / 2, w = (width + 1) / 2;
    at::Tensor low = at::empty({n, c, h, w}, x.options().memory_format(kNhwc));
    const float* src = in.data_ptr<float>();
    float* dst = low.data_ptr<float>();
    ParallelRows(n, h, [&](int64_t image, int64_t begin, int64_t end) {
      kernels.lowpass_rows(src + image * height * width * c, height, width, c, dst + image * h * w * c, begin, end);
    });
    inputs.push_back(low);
  }

  // O_L, then O_{L-1} .. O_0, each from I_j and O_{j+1}.
  at::Tensor next;
  for (int64_t j = levels; j >= 0; --j) {
    const at::Tensor& in = inputs[j];
    const int64_t height = in.size(2), width = in.size(3), h = (height + 1) / 2, w = (width + 1) / 2;
    at::Tensor out = at::empty({n, c, height, width}, x.options().memory_format(kNhwc));
    FusedLevelArgs args;
    args.height = height;
    args.width = width;
    args.channels = c;
    args.kernel = k;
    args.direct_w = j == 0 ? direct0.data() : level_w[j - 1].data();  // D_j: level j-1's LL band
    args.bias = j == 0 && !bias0.empty() ? bias0.data() : nullptr;
    args.band_w = j < levels ? level_w[j].data() + kk * c : nullptr;  // LH, HL, HH of level j
    const int64_t rows = j < levels ? h : height;
    const float* in_data = in.data_ptr<float>();
    const float* ll_data = next.defined() ? next.data_ptr<float>() : nullptr;
    float* out_data = out.data_ptr<float>();
    const int64_t scratch_floats = FusedLevelScratchFloats(args);
    ParallelRows(n, rows, [&](int64_t image, int64_t begin, int64_t end) {
      // Uninitialised: every slot is written before it is read.
      const std::unique_ptr<float[]> scratch(new float[std::max<int64_t>(1, scratch_floats)]);
      FusedLevelArgs a = args;
      a.in = in_data + image * height * width * c;
      a.ll = ll_data != nullptr ? ll_data + image * h * w * c : nullptr;
      a.out = out_data + image * height * width * c;
      kernels.level_rows(a, begin, end, scratch.get());
    });
    next = out;
  }
  return next;
}

}  // namespace wtserve::nn::detail
