// Internal to WTConv2d: the row kernels of the fused Haar CPU path (fused_haar_cpu.h), compiled
// once per x86 ISA (fused_haar_kernel.cc with -mavx512f, -mavx2 -mfma, and the baseline) and
// picked at run time. This header and the kernel file use raw pointers and no library headers,
// so that no inline function compiled for a wider ISA can be linked into baseline code.
//
// All tensors are one image in NHWC float32, rows contiguous: element (r, col, c) of an H x W x C
// image is at [(r * W + col) * C + c]. Depthwise weights are tap-major: tap (a, b) of channel c
// of a k x k kernel is at [(a * k + b) * C + c]. 'Same' zero padding: output (r, col) sums taps
// (a, b) over input (r + a - left, col + b - left), left = (k - 1) / 2 (PyTorch's padding="same").
#ifndef WTSERVE_SERVER_NN_WTCONV_FUSED_HAAR_KERNEL_H_
#define WTSERVE_SERVER_NN_WTCONV_FUSED_HAAR_KERNEL_H_

#include <cstdint>

namespace wtserve::nn::detail {

// One level of the fused Haar path on one image and one slice of its channels (see
// fused_haar_cpu.h for the algebra):
//   out = conv_k(in, direct_w) + bias + HaarSynthesis([LL', conv_k(LH(in), band_w[0]),
//                                                      conv_k(HL(in), band_w[1]),
//                                                      conv_k(HH(in), band_w[2])])
// cropped to height x width, where LL/LH/HL/HH are the raw 2x2-block sums and differences of `in`
// (odd sizes padded with zeros at the bottom/right) and LL' = conv_k(LL(in), ll_w) if ll_w is
// set (the deepest level), else `ll` (nullptr: zero).
// Pixels are `in_stride` / `out_stride` / `ll_stride` floats apart in in / out / ll (the
// tensor's channel count, or the slice's width for a compact copy); the pointers point at the
// slice's first channel and `channels` channels are computed. Weights are tap-major with
// `w_stride` floats per tap, also offset to the slice.
struct FusedLevelArgs {
  const float* in = nullptr;  // [height][width][in_stride]
  int64_t height = 0, width = 0, channels = 0;
  int64_t in_stride = 0, out_stride = 0, ll_stride = 0, w_stride = 0;
  int64_t kernel = 1;               // k
  const float* direct_w = nullptr;  // [k*k][w_stride]
  const float* bias = nullptr;      // [channels] or nullptr
  const float* band_w = nullptr;    // [3][k*k][w_stride] (LH, HL, HH)
  const float* ll_w = nullptr;      // [k*k][w_stride] or nullptr
  const float* ll = nullptr;        // [ceil(height/2)][ceil(width/2)][ll_stride] or nullptr
  float* out = nullptr;             // [height][width][out_stride], not overlapping the inputs
};

// Band rows [row_begin, row_end) of ceil(height/2): writes output rows 2*row_begin up to
// min(2*row_end, height). `scratch` holds level_scratch_floats(args) floats, private to the
// caller.
using FusedLevelRowsFn = void (*)(const FusedLevelArgs& args, int64_t row_begin, int64_t row_end, float* scratch);
// Floats of scratch memory the level kernel needs for `args` (its ring buffers of padded rows and
// convolved rows); defined next to the kernel that lays them out.
using FusedLevelScratchFn = int64_t (*)(const FusedLevelArgs& args);

// Raw 2x2-block sums a+b+c+d (the unscaled LL band) of `channels` channels of `in`
// [height][width][in_stride] into `out` [ceil(height/2)][ceil(width/2)][out_stride], band rows
// [row_begin, row_end).
using HaarLowpassRowsFn = void (*)(const float* in, int64_t height, int64_t width, int64_t channels, int64_t in_stride,
                                   float* out, int64_t out_stride, int64_t row_begin, int64_t row_end);

struct FusedHaarKernels {
  const char* isa;             // "avx512", "avx2" or "baseline"
  int64_t max_slice_channels;  // widest channel slice of one task, a multiple of 16 (measured per ISA)
  FusedLevelRowsFn level_rows;
  FusedLevelScratchFn level_scratch_floats;
  HaarLowpassRowsFn lowpass_rows;
};

// One per compiled ISA (fused_haar_kernel.cc); fused_haar_cpu.cc picks by CPU.
FusedHaarKernels FusedHaarKernelsAvx512();
FusedHaarKernels FusedHaarKernelsAvx2();
FusedHaarKernels FusedHaarKernelsBaseline();

}  // namespace wtserve::nn::detail

#endif  // WTSERVE_SERVER_NN_WTCONV_FUSED_HAAR_KERNEL_H_
