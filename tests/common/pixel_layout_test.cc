// common/image/pixel_layout.h: interleaved (HWC) pixels become planes (CHW), every byte in its
// place, for gray and colour images.
#include "common/image/pixel_layout.h"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace wtserve::image {
namespace {

TEST(PixelLayoutTest, InterleavedRgbBecomesThreePlanes) {
  // 2 x 3 pixels; pixel p has bytes (10p, 10p + 1, 10p + 2) for R, G, B.
  const int64_t pixels = 6, channels = 3;
  std::vector<uint8_t> hwc;
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t c = 0; c < channels; ++c) hwc.push_back(static_cast<uint8_t>(10 * p + c));
  }
  std::vector<uint8_t> chw(hwc.size(), 0xff);
  InterleavedToPlanar(hwc.data(), pixels, channels, chw.data());
  const std::vector<uint8_t> expected = {0, 10, 20, 30, 40, 50,   // R plane
                                         1, 11, 21, 31, 41, 51,   // G plane
                                         2, 12, 22, 32, 42, 52};  // B plane
  EXPECT_EQ(chw, expected);
}

TEST(PixelLayoutTest, GrayIsCopiedAsIs) {
  const std::vector<uint8_t> hwc = {7, 0, 255, 3};
  std::vector<uint8_t> chw(hwc.size());
  InterleavedToPlanar(hwc.data(), 4, 1, chw.data());
  EXPECT_EQ(chw, hwc);
}

}  // namespace
}  // namespace wtserve::image
