#include "server/nn/wtconv/fused_haar_cpu.h"

#include <algorithm>
#include <atomic>
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

// Vector lanes of the widest kernel, and a cache line: slices are multiples of it, so two
// tasks never share a cache line of x or y.
constexpr int64_t kSliceQuantum = 16;
// Per-task cost of a slice, in channels: a task also pays for its row loops, ring set-up and
// edge columns, taken here as this many channels' worth (narrower slices measured slower).
constexpr int64_t kTaskOverheadChannels = 8;

// Channels per task for an N x C input on `threads` threads: the slice width (a multiple of
// kSliceQuantum, at most `max_slice`, the kernels' max_slice_channels) with the shortest
// critical path, ceil(tasks / threads) x (width + overhead); ties go to fewer slices. E.g. N = 1, C = 96, 2 threads: 2
// x 48 (one task per thread), not 3 x 32 (two tasks on one thread).
int64_t SliceChannels(int64_t n, int64_t c, int64_t threads, int64_t max_slice) {
  if (c <= kSliceQuantum) return c;
  int64_t best = 0, best_cost = 0;
  for (int64_t wanted = 1; wanted <= (c + kSliceQuantum - 1) / kSliceQuantum; ++wanted) {
    const int64_t width = std::min(c, ((c + wanted - 1) / wanted + kSliceQuantum - 1) / kSliceQuantum * kSliceQuantum);
    if (width > max_slice) continue;
    const int64_t tasks = n * ((c + width - 1) / width);
    const int64_t cost = (tasks + threads - 1) / threads * (width + kTaskOverheadChannels);
    if (best == 0 || cost < best_cost) {
      best = width;
      best_cost = cost;
    }
  }
  return best;
}

// Below this many input floats the layer runs on the calling thread: waking the intra-op team
// costs more than it saves (wtconvnext_fmnist at batch 1: 3-25 K floats per layer).
constexpr int64_t kSerialBelowFloats = int64_t{1} << 15;

// Map sizes of levels 0 .. levels-1: level 0 is the input, each next one ceil(half) of it.
struct LevelSize {
  int64_t height, width;
};

}  // namespace

const char* FusedHaarIsa() { return Available().front().isa; }

std::vector<std::string> FusedHaarIsas() {
  std::vector<std::string> names;
  for (const FusedHaarKernels& k : Available()) names.emplace_back(k.isa);
  return names;
}

FusedHaarWeights FoldFusedHaarWeights(const HaarLayerParams& p) {
  const int64_t levels = static_cast<int64_t>(p.level_weight.size());
  TORCH_CHECK(p.base_weight.defined() && p.base_weight.dim() == 4 && p.base_weight.device().is_cpu() &&
                  (p.base_weight.scalar_type() == at::kFloat || p.base_weight.scalar_type() == at::kBFloat16),
              "FoldFusedHaarWeights: expected a float32 or bfloat16 CPU base weight [C, 1, k, k]");
  // The kernels compute in float32; bfloat16 parameters are widened exactly.
  auto as_float = [](const at::Tensor& t) { return t.to(at::kFloat).contiguous(); };
  const int64_t c = p.base_weight.size(0), k = p.base_weight.size(2), kk = k * k;
  TORCH_CHECK(levels >= 1 && static_cast<int64_t>(p.level_scale.size()) == levels, "FoldFusedHaarWeights: ", levels,
              " level weights but ", p.level_scale.size(), " level scales (need >= 1 each)");
  TORCH_CHECK(k <= kFusedHaarMaxKernel && p.base_weight.size(3) == k, "FoldFusedHaarWeights: kernel ", k, "x",
              p.base_weight.size(3), " not supported");
  FusedHaarWeights f;
  f.channels = c;
  f.kernel = k;
  // Factors as in wtconv2d.cc's forward_haar, which derives them.
  const at::Tensor base_w = as_float(p.base_weight), base_s = as_float(p.base_scale);
  TORCH_CHECK(base_s.numel() == c, "FoldFusedHaarWeights: base_scale has the wrong shape");
  AppendTapMajor(base_w.data_ptr<float>(), base_s.data_ptr<float>(), c, kk, 0, 1, 1.f, f.direct);
  if (p.base_bias.defined()) {
    const at::Tensor b = as_float(p.base_bias);
    TORCH_CHECK(b.numel() == c, "FoldFusedHaarWeights: base bias has the wrong shape");
    f.bias.resize(c);
    for (int64_t ch = 0; ch < c; ++ch) f.bias[ch] = b.data_ptr<float>()[ch] * base_s.data_ptr<float>()[ch];
  }
  f.level.resize(levels);
  double m = 1.0, cj = 1.0;
  for (int64_t j = 0; j < levels; ++j) {
    m /= p.tap;
    cj *= p.tap;
    const at::Tensor w = as_float(p.level_weight[j]), s = as_float(p.level_scale[j]);
    TORCH_CHECK(w.size(0) == 4 * c && w.size(2) == k && w.size(3) == k && s.numel() == 4 * c,
                "FoldFusedHaarWeights: level ", j, " parameters have the wrong shape");
    f.level[j].reserve(4 * kk * c);
    for (int64_t band = 0; band < 4; ++band) {
      AppendTapMajor(w.data_ptr<float>(), s.data_ptr<float>(), c, kk, band, 4, static_cast<float>(cj / m), f.level[j]);
    }
  }
  return f;
}

std::shared_ptr<const FusedHaarWeights> FusedHaarWeightCache::Get(const HaarLayerParams& p) {
  std::vector<std::pair<const void*, int64_t>> key;
  bool cacheable = true;
  auto add = [&](const at::Tensor& t) {
    if (!t.defined()) {
      key.emplace_back(nullptr, 0);
    } else if (t.is_inference()) {
      cacheable = false;
    } else {
      key.emplace_back(t.data_ptr(), static_cast<int64_t>(t._version()));
    }
  };
  add(p.base_weight);
  add(p.base_bias);
  add(p.base_scale);
  for (const at::Tensor& t : p.level_weight) add(t);
  for (const at::Tensor& t : p.level_scale) add(t);
  if (!cacheable) return std::make_shared<const FusedHaarWeights>(FoldFusedHaarWeights(p));
  const std::lock_guard<std::mutex> lock(mutex_);
  if (weights_ == nullptr || key != key_ || tap_ != p.tap) {
    weights_ = std::make_shared<const FusedHaarWeights>(FoldFusedHaarWeights(p));
    key_ = std::move(key);
    tap_ = p.tap;
  }
  return weights_;
}

at::Tensor FusedHaarForwardCpu(const at::Tensor& x, const HaarLayerParams& params, const std::string& isa) {
  return FusedHaarForwardCpu(x, FoldFusedHaarWeights(params), isa);
}

at::Tensor FusedHaarForwardCpu(const at::Tensor& x_in, const FusedHaarWeights& f, const std::string& isa) {
  TORCH_CHECK(x_in.device().is_cpu() && x_in.scalar_type() == at::kFloat && x_in.dim() == 4,
              "FusedHaarForwardCpu: expected a float32 CPU [N, C, H, W] tensor");
  const int64_t levels = static_cast<int64_t>(f.level.size());
  const int64_t c = f.channels, k = f.kernel, kk = k * k;
  TORCH_CHECK(levels >= 1 && x_in.size(1) == c, "FusedHaarForwardCpu: parameters do not match the input");
  const FusedHaarKernels& kernels = Kernels(isa);
  // Named in LibTorch's profiler (bench/models --profile), which sees only aten ops otherwise.
  RECORD_FUNCTION("wtserve::fused_haar_wtconv2d", std::vector<c10::IValue>());
  constexpr auto kNhwc = at::MemoryFormat::ChannelsLast;
  const at::Tensor x = x_in.contiguous(kNhwc);
  const int64_t n = x.size(0);
  const std::vector<float>& direct0 = f.direct;
  const std::vector<float>& bias0 = f.bias;
  const std::vector<std::vector<float>>& level_w = f.level;

  std::vector<LevelSize> sizes{{x.size(2), x.size(3)}};
  for (int64_t j = 1; j < levels; ++j) sizes.push_back({(sizes.back().height + 1) / 2, (sizes.back().width + 1) / 2});
  const int64_t height = sizes[0].height, width = sizes[0].width;
  at::Tensor y = at::empty_like(x, x.options().memory_format(kNhwc));
  const float* x_data = x.data_ptr<float>();
  float* y_data = y.data_ptr<float>();
  const int64_t threads = x.numel() < kSerialBelowFloats ? 1 : static_cast<int64_t>(at::get_num_threads());
  const int64_t slice = SliceChannels(n, c, threads, kernels.max_slice_channels);
  const int64_t slices = (c + slice - 1) / slice;

  // One task: every level of one image's channels [c0, c0 + ch). The maps of levels >= 1 live in
  // a task-private buffer, compact (ch floats per pixel): I_j = the raw LL band of I_{j-1}
  // (I_0 = x) and O_j, the level's output and the LL input of level j - 1. Levels run deepest
  // first: O_{L-1} makes its own LL band, O_0 is written into y.
  auto task = [&](int64_t image, int64_t c0, int64_t ch) {
    std::vector<FusedLevelArgs> args(levels);
    std::vector<int64_t> offset(levels, 0);  // of I_j in the buffer; O_j follows it
    int64_t maps = 0, ring = 0;
    for (int64_t j = 0; j < levels; ++j) {
      FusedLevelArgs& a = args[j];
      a.height = sizes[j].height;
      a.width = sizes[j].width;
      a.channels = ch;
      a.kernel = k;
      a.w_stride = c;
      a.in_stride = a.out_stride = j == 0 ? c : ch;
      a.ll_stride = ch;
      a.direct_w = (j == 0 ? direct0.data() : level_w[j - 1].data()) + c0;  // D_j: level j-1's LL band
      a.bias = j == 0 && !bias0.empty() ? bias0.data() + c0 : nullptr;
      a.band_w = level_w[j].data() + kk * c + c0;                   // LH, HL, HH of level j
      a.ll_w = j == levels - 1 ? level_w[j].data() + c0 : nullptr;  // LL of the deepest level
      if (j > 0) {
        offset[j] = maps;
        maps += 2 * a.height * a.width * ch;
      }
      ring = std::max(ring, kernels.level_scratch_floats(a));
    }
    // Uninitialised: every float is written before it is read.
    const std::unique_ptr<float[]> buffer(new float[maps + ring]);
    float* const ring_buffer = buffer.get() + maps;
    auto map_in = [&](int64_t j) { return buffer.get() + offset[j]; };
    auto map_out = [&](int64_t j) { return buffer.get() + offset[j] + sizes[j].height * sizes[j].width * ch; };
    const float* x_image = x_data + image * height * width * c + c0;
    for (int64_t j = 1; j < levels; ++j) {
      const LevelSize& from = sizes[j - 1];
      kernels.lowpass_rows(j == 1 ? x_image : map_in(j - 1), from.height, from.width, ch, j == 1 ? c : ch, map_in(j),
                           ch, 0, sizes[j].height);
    }
    for (int64_t j = levels - 1; j >= 0; --j) {
      FusedLevelArgs& a = args[j];
      a.in = j == 0 ? x_image : map_in(j);
      a.out = j == 0 ? y_data + image * height * width * c + c0 : map_out(j);
      a.ll = j + 1 < levels ? map_out(j + 1) : nullptr;
      kernels.level_rows(a, 0, (a.height + 1) / 2, ring_buffer);
    }
  };
  // Tasks are handed out one at a time from a shared counter rather than in LibTorch's static
  // chunks: on a shared host one core is often slower than the other, and in a server the
  // intra-op threads share cores with gRPC's, so a static split waits for the slowest thread.
  const int64_t tasks = n * slices;
  std::atomic<int64_t> next_task{0};
  auto run_tasks = [&] {
    for (int64_t t = next_task.fetch_add(1); t < tasks; t = next_task.fetch_add(1)) {
      const int64_t image = t / slices, c0 = t % slices * slice;
      task(image, c0, std::min(slice, c - c0));
    }
  };
  const int64_t workers = std::min(threads, tasks);
  if (workers <= 1) {
    run_tasks();
  } else {
    at::parallel_for(0, workers, 1, [&](int64_t, int64_t) { run_tasks(); });
  }
  return y;
}

}  // namespace wtserve::nn::detail
