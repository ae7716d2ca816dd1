// The published severity tables (make_cifar_c.py, make_tinyimagenet_c.py, make_imagenet_c.py of
// github.com/hendrycks/robustness), one row per severity 1..5.  Values in pixels are those of the
// table's reference size; corruptions that scale them with the image say so where they use them.
#ifndef WTSERVE_CLIENT_CORRUPT_PARAMS_H_
#define WTSERVE_CLIENT_CORRUPT_PARAMS_H_

#include <array>

#include "client/corrupt/corruptions.h"

namespace wtserve::corrupt {

template <typename T>
using PerSeverity = std::array<T, 5>;

struct GlassBlurParams {
  double sigma;    // Gaussian blur before and after the shuffle, px
  int max_delta;   // neighbour offsets are drawn from [-max_delta, max_delta)
  int iterations;  // shuffle passes
};
struct DefocusParams {
  double radius;       // disk radius, px
  double alias_sigma;  // Gaussian that antialiases the disk, px
};
struct MotionParams {
  double radius;  // ImageMagick -motion-blur radius, px (kernel has 2*ceil(radius)+1 taps)
  double sigma;   // px
};
struct ZoomParams {
  double step;  // zoom factors 1, 1+step, ..., 1+(count-1)*step
  int count;    // numpy.arange's length for the published (start, stop, step)
};
struct FogParams {
  double amount;  // plasma fractal weight
  double decay;   // wibble decay of the diamond-square recursion
};
struct FrostParams {
  double image_weight;
  double frost_weight;
};
struct SnowParams {
  double mean, stddev;                 // of the per-pixel normal snow layer
  double zoom;                         // clipped zoom of the layer (flake size), at the reference size
  double threshold;                    // layer values below it become 0
  double motion_radius, motion_sigma;  // px at the reference size
  double image_weight;                 // blend of the image with its brightened grey version
};
struct SpatterParams {
  double mean, stddev;  // of the per-pixel normal liquid layer
  double sigma;         // Gaussian smoothing of the layer, px at the reference size
  double threshold;     // layer values below it become 0
  double intensity;     // water: peak strength; mud: blur sigma of the mask (px at reference)
  bool mud;             // false: water drops, true: mud
};
struct ElasticParams {
  double alpha;   // displacement scale, px at the reference size
  double sigma;   // smoothing of the displacement field, px at the reference size
  double affine;  // max jitter of the affine control points, px at the reference size
};
struct SaturateParams {
  double scale;  // S' = S * scale + shift
  double shift;
};

struct SeverityTable {
  int reference_size;
  PerSeverity<double> gaussian_noise;  // sigma
  PerSeverity<double> shot_noise;      // photons per unit intensity
  PerSeverity<double> impulse_noise;   // fraction of values replaced
  PerSeverity<double> speckle_noise;   // sigma
  PerSeverity<double> gaussian_blur;   // sigma, px
  PerSeverity<GlassBlurParams> glass_blur;
  PerSeverity<DefocusParams> defocus_blur;
  PerSeverity<MotionParams> motion_blur;
  PerSeverity<ZoomParams> zoom_blur;
  PerSeverity<SnowParams> snow;
  PerSeverity<FrostParams> frost;
  double frost_texture_scale;  // the scripts shrink the frost photo by this before cropping
  PerSeverity<FogParams> fog;
  PerSeverity<double> brightness;  // added to V of HSV
  PerSeverity<double> contrast;    // factor
  PerSeverity<ElasticParams> elastic_transform;
  PerSeverity<double> pixelate;       // downscale factor
  PerSeverity<int> jpeg_compression;  // JPEG quality
  PerSeverity<SpatterParams> spatter;
  PerSeverity<SaturateParams> saturate;
};

const SeverityTable& TableFor(ParameterTable table);

}  // namespace wtserve::corrupt

#endif  // WTSERVE_CLIENT_CORRUPT_PARAMS_H_
