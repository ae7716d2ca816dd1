// Images the corruption tests and benchmark run on.
#ifndef WTSERVE_TESTS_CORRUPT_TEST_IMAGES_H_
#define WTSERVE_TESTS_CORRUPT_TEST_IMAGES_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <zlib.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace wtserve::corrupt::testing {

// A natural-looking RGB scene of any size: sky gradient, a textured ground, a few soft-edged
// coloured objects, moderate saturation (HSV S mostly below 0.5, like photographs).
inline cv::Mat SyntheticScene(int rows, int cols) {
  cv::Mat img(rows, cols, CV_8UC3);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double y = (r + 0.5) / rows, x = (c + 0.5) / cols;
      double red, green, blue;
      if (y < 0.55 + 0.05 * std::sin(7 * x)) {  // sky
        red = 120 + 60 * y;
        green = 150 + 50 * y;
        blue = 200 + 20 * y;
      } else {  // ground with texture
        const double t = 0.5 + 0.25 * std::sin(40 * x + 13 * y) + 0.25 * std::sin(23 * y * x * 9);
        red = 90 + 60 * t;
        green = 110 + 50 * t;
        blue = 60 + 30 * t;
      }
      img.at<cv::Vec3b>(r, c) = cv::Vec3b(cv::saturate_cast<uint8_t>(red), cv::saturate_cast<uint8_t>(green),
                                          cv::saturate_cast<uint8_t>(blue));
    }
  }
  const int s = std::min(rows, cols);
  cv::circle(img, cv::Point(cols * 3 / 10, rows * 4 / 10), std::max(1, s / 6), cv::Scalar(200, 120, 100), cv::FILLED,
             cv::LINE_AA);
  cv::rectangle(img, cv::Point(cols * 6 / 10, rows * 5 / 10), cv::Point(cols * 8 / 10, rows * 8 / 10),
                cv::Scalar(110, 90, 160), cv::FILLED, cv::LINE_AA);
  cv::ellipse(img, cv::Point(cols / 2, rows * 8 / 10), cv::Size(std::max(1, cols / 8), std::max(1, rows / 14)), 20, 0,
              360, cv::Scalar(230, 220, 190), cv::FILLED, cv::LINE_AA);
  return img;
}

// Reads image `index` of a gzipped IDX3 file (Fashion-MNIST layout: 28x28 uint8); empty on error.
inline cv::Mat ReadIdxImage(const std::string& path, int index) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  unsigned char header[16];
  cv::Mat img;
  if (gzread(f, header, 16) == 16 && header[2] == 0x08 && header[3] == 3) {
    auto be32 = [&](int o) {
      return (uint32_t(header[o]) << 24) | (uint32_t(header[o + 1]) << 16) | (uint32_t(header[o + 2]) << 8) |
             uint32_t(header[o + 3]);
    };
    const int count = static_cast<int>(be32(4));
    const int rows = static_cast<int>(be32(8)), cols = static_cast<int>(be32(12));
    if (index < count && gzseek(f, 16 + static_cast<z_off_t>(index) * rows * cols, SEEK_SET) >= 0) {
      img.create(rows, cols, CV_8UC1);
      if (gzread(f, img.data, static_cast<unsigned>(rows * cols)) != rows * cols) img.release();
    }
  }
  gzclose(f);
  return img;
}

inline const char* kFashionMnistTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

}  // namespace wtserve::corrupt::testing

#endif  // WTSERVE_TESTS_CORRUPT_TEST_IMAGES_H_
