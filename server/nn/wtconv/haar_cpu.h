// Internal to WTConv2d: single-pass CPU kernels of the Haar fast path (inference only: they
// write through raw pointers, so autograd does not see them; wtconv2d.cc uses torch ops when
// gradients are needed or the tensors are not on the CPU).
//
// Both work on channels-last data (channel stride 1) in the band-major layout of the fast path:
// band s of channel c is channel s*C + c. One at::parallel_for per call, so a level costs two
// parallel regions instead of ~18 elementwise ops.
#ifndef WTSERVE_SERVER_NN_WTCONV_HAAR_CPU_H_
#define WTSERVE_SERVER_NN_WTCONV_HAAR_CPU_H_

#include <ATen/core/Tensor.h>

namespace wtserve::nn::detail {

// in: [N, C, H, W] on CPU, channel stride 1 (any other strides). Returns the raw 2x2 block
// sums times `scale`, [N, 4C, ceil(H/2), ceil(W/2)] channels_last contiguous, bands LL
// (a+b+c+d), LH (a+b-c-d), HL (a-b+c-d), HH (a-b-c+d); a missing row/column of an odd size
// counts as zero (the reference's right/bottom zero padding).
at::Tensor HaarAnalysisCpu(const at::Tensor& in, double scale);

// v: [N, 4C, h, w] channels_last contiguous (band-major); target: [N, C, H, W] on CPU, channel
// stride 1, ceil(H/2) == h, ceil(W/2) == w, not overlapping v. Adds the raw Haar synthesis of v
// (P+R, P-R / Q+S, Q-S per 2x2 block, P = LL+LH, Q = LL-LH, R = HL+HH, S = HL-HH), cropped to
// H x W, into target in place.
void HaarSynthesisAddCpu(const at::Tensor& v, at::Tensor& target);

}  // namespace wtserve::nn::detail

#endif  // WTSERVE_SERVER_NN_WTCONV_HAAR_CPU_H_
