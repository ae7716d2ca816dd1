// Internal to WTConv2d: the fused CPU inference path for the Haar wavelet (float32, stride 1).
//
// With I_0 = x and I_{j+1} = the raw LL band (2x2-block sums) of I_j, the layer's output is
// O_0, where for j = L-1 down to 0
//   O_j = conv(I_j, D_j) [+ bias at j = 0] + Synthesis([LL_j, conv(LH(I_j)), conv(HL(I_j)),
//                                                       conv(HH(I_j))])   (level j's weights)
//   LL_j = O_{j+1} for j < L-1, and conv(LL(I_{L-1}), level L-1's LL weights) at the deepest level,
// D_0 = the base conv (times base_scale), D_j = level j-1's LL-band weights. This is the Haar
// path of wtconv2d.cc regrouped: the LL band of level j-1's conv output, plus the synthesis of
// level j accumulated into it, is O_j, so each level is one pass that reads I_j and writes O_j;
// the band rows it needs are made from I_j in a ring buffer while they are in cache, never
// stored. Scale factors (the Haar tap t, wavelet_scale, base_scale) are folded into the weights
// exactly as in wtconv2d.cc. Passes: L fused ones plus L-1 that write I_1 .. I_{L-1} (a quarter
// of their input each); at L = 1 one pass reads x and writes y. The work is split into tasks over
// (image, channel slice) on LibTorch's intra-op threads; a task runs every level of its slice,
// so the maps of levels >= 1 stay in the task's cache-sized buffer.
//
// The row kernels exist for AVX-512, AVX2+FMA and baseline x86-64 (fused_haar_kernel.h); the
// widest the CPU supports is used (FusedHaarIsa() says which).
#ifndef WTSERVE_SERVER_NN_WTCONV_FUSED_HAAR_CPU_H_
#define WTSERVE_SERVER_NN_WTCONV_FUSED_HAAR_CPU_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace wtserve::nn::detail {

// The parameters of one WTConv2d, float32 on CPU, shapes as in the reference (wtconv2d.h).
struct HaarLayerParams {
  at::Tensor base_weight;                // [C, 1, k, k]
  at::Tensor base_bias;                  // [C] or undefined
  at::Tensor base_scale;                 // [1, C, 1, 1]
  std::vector<at::Tensor> level_weight;  // L x [4C, 1, k, k], channel 4c+s = band s of channel c
  std::vector<at::Tensor> level_scale;   // L x [1, 4C, 1, 1]
  double tap = 0.5;                      // the db1 filter tap t as float32 rounds it
};

// Largest kernel side the fused kernels take.
constexpr int64_t kFusedHaarMaxKernel = 63;

// The parameters folded for the kernels: tap-major copies ([k*k][C], tap (a, b) of channel c at
// [(a * k + b) * C + c]) with base_scale, wavelet_scale and the Haar factors multiplied in.
struct FusedHaarWeights {
  int64_t channels = 0, kernel = 0;
  std::vector<float> direct;              // D_0: the base conv times base_scale
  std::vector<float> bias;                // [C] base bias times base_scale, or empty
  std::vector<std::vector<float>> level;  // L x [4][k*k][C], bands LL, LH, HL, HH
};
// Throws c10::Error when the parameters are not float32 CPU tensors of the documented shapes.
FusedHaarWeights FoldFusedHaarWeights(const HaarLayerParams& params);

// One layer's folded weights, kept between calls (folding costs up to ~0.1 ms at C = 384, L = 5,
// a fifth of the layer at batch 1) and made again when a parameter's storage or version counter
// changes (load_state_dict, copy_, an optimizer step). Parameters that are inference tensors
// have no version counter and are folded on every call. Thread-safe.
class FusedHaarWeightCache {
 public:
  std::shared_ptr<const FusedHaarWeights> Get(const HaarLayerParams& params);

 private:
  std::mutex mutex_;
  std::vector<std::pair<const void*, int64_t>> key_;  // (data_ptr, version) per parameter
  double tap_ = 0;
  std::shared_ptr<const FusedHaarWeights> weights_;
};

// x: [N, C, H, W] float32 on CPU, any memory format (made channels_last contiguous), L >= 1
// levels. Returns [N, C, H, W] float32 channels_last: the layer's output at stride 1.
// isa: "" for the widest this CPU supports, else one of FusedHaarIsas() (tests compare them).
// Throws c10::Error on other dtypes/devices, a kernel side above kFusedHaarMaxKernel, or an isa
// that is not compiled in or not supported by this CPU.
at::Tensor FusedHaarForwardCpu(const at::Tensor& x, const FusedHaarWeights& weights, const std::string& isa = "");
// The same, folding `params` first.
at::Tensor FusedHaarForwardCpu(const at::Tensor& x, const HaarLayerParams& params, const std::string& isa = "");

// "avx512", "avx2" or "baseline": the row kernels this CPU runs by default.
const char* FusedHaarIsa();
// Every ISA compiled in that this CPU can run, widest first.
std::vector<std::string> FusedHaarIsas();

}  // namespace wtserve::nn::detail

#endif  // WTSERVE_SERVER_NN_WTCONV_FUSED_HAAR_CPU_H_
