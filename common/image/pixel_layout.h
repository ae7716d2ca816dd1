// Pixel layouts shared by the client library and the load generator: image decoders (OpenCV,
// the client's pixel inputs) deliver interleaved pixels, HWC; the served models take planar
// pixels, CHW (each channel's H x W plane in turn), as in OIP's [N, C, H, W] input tensors.
#ifndef WTSERVE_COMMON_IMAGE_PIXEL_LAYOUT_H_
#define WTSERVE_COMMON_IMAGE_PIXEL_LAYOUT_H_

#include <cstdint>

namespace wtserve::image {

// Copies `pixels` interleaved pixels of `channels` bytes each (hwc[p * channels + c]) into
// `channels` planes of `pixels` bytes (chw[c * pixels + p]). The buffers must not overlap and
// hold pixels * channels bytes each.
inline void InterleavedToPlanar(const uint8_t* hwc, int64_t pixels, int64_t channels, uint8_t* chw) {
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t c = 0; c < channels; ++c) chw[c * pixels + p] = hwc[p * channels + c];
  }
}

}  // namespace wtserve::image

#endif  // WTSERVE_COMMON_IMAGE_PIXEL_LAYOUT_H_
