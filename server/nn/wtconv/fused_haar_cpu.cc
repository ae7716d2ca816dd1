#include "server/nn/wtconv/fused_haar_cpu.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
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

// Appends to `out` a tap-major copy [k*k][C] of depthwise weights [C, 1, k, k] (channel c's
// weights start at first_channel + c * channel_step), each channel times factor[...] * scalar.
void AppendTapMajor(const float* w, const float* factor, int64_t c, int64_t kk, int64_t first_channel,
                    int64_t channel_step, float scalar, std::vector<float>& out) {
  const size_t base = out.size();
  out.resize(base + kk * c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const int64_t src = first_channel + ch * channel_step;
    const float f = factor[src] * scalar;
    for (int64_t tap = 0; tap < kk; ++tap) out[base + tap * c + ch] = w[src * kk + tap] * f;
  }
}

// Vector lanes of the widest kernel; channel slices are multiples of it.
constexpr int64_t kSliceQuantum = 16;
// Widest channel slice of one task.
constexpr int64_t kMaxSlice = 128;

// Work split of one pass: tasks over (image, channel slice, row chunk). Depthwise convs are
// independent per channel, so slicing channels costs nothing; slices also keep the ring buffers
// small (<= 64 channels: ~60 KB at 56 columns, k = 5). Rows are split only when images x slices
// leave threads idle (chunks of >= 4 rows; each recomputes up to k halo rows).
struct WorkSplit {
  int64_t slice = 0, slices = 0, chunk = 0, chunks = 0;
};

WorkSplit Split(int64_t n, int64_t c, int64_t rows) {
  const int64_t threads = static_cast<int64_t>(at::get_num_threads());
  const int64_t target = 4 * threads;
  WorkSplit s;
  const int64_t max_slices = std::max<int64_t>(1, c / kSliceQuantum);
  const int64_t wanted = std::max<int64_t>((c + kMaxSlice - 1) / kMaxSlice, (target + n - 1) / n);
  const int64_t slices = std::min(max_slices, wanted);
  s.slice = ((c + slices - 1) / slices + kSliceQuantum - 1) / kSliceQuantum * kSliceQuantum;
  s.slice = std::min(s.slice, c);
  s.slices = (c + s.slice - 1) / s.slice;
  const int64_t per_image = n * s.slices >= target ? 1 : std::min<int64_t>(std::max<int64_t>(1, rows / 4),
                                                                             (target + n * s.slices - 1) / (n * s.slices));
  s.chunk = (rows + per_image - 1) / per_image;
  s.chunks = (rows + s.chunk - 1) / s.chunk;
  return s;
}

// Below this many input floats a pass runs on the calling thread: waking the intra-op team
// costs more than it saves (wtconvnext_fmnist at batch 1: 3-25 K floats per pass).
constexpr int64_t kSerialBelowFloats = int64_t{1} << 15;

// body(image, first channel, channels, first row, end row) for every task, on LibTorch's
// intra-op threads. `floats`: the size of the pass's input.
void ParallelTasks(int64_t n, int64_t c, int64_t rows, int64_t floats,
                   const std::function<void(int64_t, int64_t, int64_t, int64_t, int64_t)>& body) {
  if (floats < kSerialBelowFloats) {
    for (int64_t image = 0; image < n; ++image) body(image, 0, c, 0, rows);
    return;
  }
  const WorkSplit s = Split(n, c, rows);
  const int64_t per_image = s.slices * s.chunks;
  at::parallel_for(0, n * per_image, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t image = task / per_image, slice = task % per_image / s.chunks, chunk = task % s.chunks;
      const int64_t c0 = slice * s.slice, r0 = chunk * s.chunk;
      body(image, c0, std::min(s.slice, c - c0), r0, std::min(rows, r0 + s.chunk));
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
  // Named in LibTorch's profiler (bench/models --profile), which sees only aten ops otherwise.
  RECORD_FUNCTION("wtserve::fused_haar_wtconv2d", std::vector<c10::IValue>());
  constexpr auto kNhwc = at::MemoryFormat::ChannelsLast;
  const at::Tensor x = x_in.contiguous(kNhwc);
  const int64_t n = x.size(0);

  // Folded weights (see wtconv2d.cc's forward_haar for the derivation of the factors).
  const at::Tensor base_w = p.base_weight.contiguous(), base_s = p.base_scale.contiguous();
  std::vector<float> direct0;
  AppendTapMajor(base_w.data_ptr<float>(), base_s.data_ptr<float>(), c, kk, 0, 1, 1.f, direct0);
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
      AppendTapMajor(w.data_ptr<float>(), s.data_ptr<float>(), c, kk, band, 4, static_cast<float>(cj / m), level_w[j]);
    }
  }

  // I_1 .. I_{L-1}: raw LL bands (the deepest level makes its LL band in its own pass).
  std::vector<at::Tensor> inputs{x};
  for (int64_t j = 0; j + 1 < levels; ++j) {
    const at::Tensor& in = inputs.back();
    const int64_t height = in.size(2), width = in.size(3), h = (height + 1) / 2, w = (width + 1) / 2;
    at::Tensor low = at::empty({n, c, h, w}, x.options().memory_format(kNhwc));
    const float* src = in.data_ptr<float>();
    float* dst = low.data_ptr<float>();
    ParallelTasks(n, c, h, in.numel(), [&](int64_t image, int64_t c0, int64_t channels, int64_t begin, int64_t end) {
      kernels.lowpass_rows(src + image * height * width * c + c0, height, width, channels, c,
                           dst + image * h * w * c + c0, begin, end);
    });
    inputs.push_back(low);
  }

  // O_{L-1} (with its own LL band), then O_{L-2} .. O_0, each from I_j and O_{j+1}.
  at::Tensor next;
  for (int64_t j = levels - 1; j >= 0; --j) {
    const at::Tensor& in = inputs[j];
    const int64_t height = in.size(2), width = in.size(3), h = (height + 1) / 2, w = (width + 1) / 2;
    at::Tensor out = at::empty({n, c, height, width}, x.options().memory_format(kNhwc));
    FusedLevelArgs args;
    args.height = height;
    args.width = width;
    args.stride = c;
    args.kernel = k;
    const float* direct_w = j == 0 ? direct0.data() : level_w[j - 1].data();  // D_j: level j-1's LL band
    const float* bias = j == 0 && !bias0.empty() ? bias0.data() : nullptr;
    const float* band_w = level_w[j].data() + kk * c;                    // LH, HL, HH of level j
    const float* ll_w = j == levels - 1 ? level_w[j].data() : nullptr;   // LL of the deepest level
    const float* in_data = in.data_ptr<float>();
    const float* ll_data = next.defined() ? next.data_ptr<float>() : nullptr;
    float* out_data = out.data_ptr<float>();
    ParallelTasks(n, c, h, in.numel(), [&](int64_t image, int64_t c0, int64_t channels, int64_t begin, int64_t end) {
      FusedLevelArgs a = args;
      a.channels = channels;
      a.in = in_data + image * height * width * c + c0;
      a.direct_w = direct_w + c0;
      a.bias = bias != nullptr ? bias + c0 : nullptr;
      a.band_w = band_w + c0;
      a.ll_w = ll_w != nullptr ? ll_w + c0 : nullptr;
      a.ll = ll_data != nullptr ? ll_data + image * h * w * c + c0 : nullptr;
      a.out = out_data + image * height * width * c + c0;
      // Uninitialised: every slot is written before it is read.
      const std::unique_ptr<float[]> scratch(new float[kernels.level_scratch_floats(a)]);
      kernels.level_rows(a, begin, end, scratch.get());
    });
    next = out;
  }
  return next;
}

}  // namespace wtserve::nn::detail
