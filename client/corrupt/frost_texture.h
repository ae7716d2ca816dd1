// Internal: procedurally generated frost textures standing in for the frost photographs that the
// published scripts blend in (which this project does not ship).
#ifndef WTSERVE_CLIENT_CORRUPT_FROST_TEXTURE_H_
#define WTSERVE_CLIENT_CORRUPT_FROST_TEXTURE_H_

#include <opencv2/core.hpp>

namespace wtserve::corrupt {

// Like the scripts' five photographs, a fixed set of textures; each is generated once from a fixed
// seed and cached (thread-safe).
inline constexpr int kNumFrostTextures = 5;
inline constexpr int kFrostTextureSize = 512;

// CV_32FC3 RGB in [0, 1], kFrostTextureSize squared: ice crystals (branching dendrites at
// hexagonal angles grown from random nucleation points) over a faint plasma-fractal haze, tinted
// pale blue.  index in [0, kNumFrostTextures).
const cv::Mat& FrostTexture(int index);

}  // namespace wtserve::corrupt

#endif  // WTSERVE_CLIENT_CORRUPT_FROST_TEXTURE_H_
