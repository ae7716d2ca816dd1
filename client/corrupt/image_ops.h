// Internal: image operations shared by several corruptions.  Float images are CV_32F with values
// x/255 (nominally [0, 1]; intermediate results may leave that range).
#ifndef WTSERVE_CLIENT_CORRUPT_IMAGE_OPS_H_
#define WTSERVE_CLIENT_CORRUPT_IMAGE_OPS_H_

#include <opencv2/core.hpp>

#include "client/corrupt/rng.h"

namespace wtserve::corrupt {

// uint8 -> float x/255.
cv::Mat ToFloat(const cv::Mat& image_u8);
// float -> uint8: clip to [0, 1], scale by 255, round to nearest.
cv::Mat ToU8(const cv::Mat& image_f);

// skimage.filters.gaussian / scipy.ndimage.gaussian_filter: per-channel Gaussian with kernel
// radius int(truncate * sigma + 0.5); sigma <= 0 returns a copy.
cv::Mat ScipyGaussian(const cv::Mat& image_f, double sigma, int border_type, double truncate = 4.0);

// clipped_zoom of the scripts: crop the centre 1/zoom of the image and bilinearly upscale it back
// (scipy.ndimage.zoom order 1, corner-aligned), generalised to non-square images.
cv::Mat ClippedZoom(const cv::Mat& image_f, double zoom);

// ImageMagick's MotionBlurImage: a one-sided line of 2*ceil(radius)+1 taps weighted
// exp(-i^2 / (2 sigma^2)), normalised, at the given angle in degrees; edge pixels repeat.
cv::Mat MotionBlur(const cv::Mat& image_f, double radius, double sigma, double angle_degrees);

// The scripts' diamond-square plasma fractal, mapsize x mapsize (a power of two >= 2), CV_32FC1
// normalised to [0, 1].
cv::Mat PlasmaFractal(int mapsize, double wibble_decay, Rng& rng);

// elastic_transform's displacement field before scaling by alpha: i.i.d. U(-1, 1) values smoothed
// by scipy's Gaussian (mode 'reflect', truncate 3), CV_32FC1 rows x cols.  Above
// kMaxDirectFieldSigma px the field is drawn on a grid coarser by about sigma /
// kMaxDirectFieldSigma, smoothed there, bilinearly upsampled and rescaled to the same standard
// deviation (a Gaussian-smoothed noise field carries nothing above the coarse grid's Nyquist
// rate); this keeps the cost independent of sigma (ImageNet severity 1 smooths with 171 px).
inline constexpr double kMaxDirectFieldSigma = 4.0;
cv::Mat SmoothedUniformField(int rows, int cols, double sigma, Rng& rng);

// Grey level of a float RGB image (OpenCV's RGB2GRAY weights); a copy for one channel.
cv::Mat GrayOf(const cv::Mat& image_f);

}  // namespace wtserve::corrupt

#endif  // WTSERVE_CLIENT_CORRUPT_IMAGE_OPS_H_
