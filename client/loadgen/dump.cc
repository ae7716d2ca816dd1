#include "client/loadgen/dump.h"

#include <algorithm>
#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "client/corrupt/corruptions.h"

namespace wtserve::loadgen {
namespace {

constexpr int kLabelWidth = 150, kHeaderHeight = 22, kPad = 4;

// RGB or gray -> BGR (what imwrite expects), upscaled by `factor`.
cv::Mat ToCell(const cv::Mat& image, int factor) {
  cv::Mat bgr;
  if (image.channels() == 1) {
    cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
  } else {
    cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);
  }
  cv::Mat big;
  cv::resize(bgr, big, cv::Size(), factor, factor, cv::INTER_NEAREST);
  return big;
}

void Caption(cv::Mat& canvas, const std::string& text, int x, int y) {
  cv::putText(canvas, text, cv::Point(x, y), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
}

}  // namespace

absl::Status DumpSampleGrids(const data::ImageDataset& data, const std::vector<std::string>& corruptions,
                             const std::vector<int>& severities, uint64_t seed, int count, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create --dump_samples dir ", dir, ": ", ec.message()));
  const int n = std::min<int>(count, static_cast<int>(data.images.size()));
  for (int i = 0; i < n; ++i) {
    const cv::Mat& image = data.images[static_cast<size_t>(i)];
    const int factor = std::max(1, (84 + std::max(image.rows, image.cols) - 1) / std::max(image.rows, image.cols));
    const int cell_w = image.cols * factor + kPad, cell_h = image.rows * factor + kPad;
    const int rows = std::max<int>(1, static_cast<int>(corruptions.size()));
    const int cols = 1 + static_cast<int>(severities.size());
    cv::Mat canvas(kHeaderHeight + rows * cell_h, kLabelWidth + cols * cell_w, CV_8UC3, cv::Scalar(255, 255, 255));
    Caption(canvas, "clean", kLabelWidth, kHeaderHeight - 7);
    for (size_t s = 0; s < severities.size(); ++s) {
      Caption(canvas, absl::StrCat("severity ", severities[s]), kLabelWidth + static_cast<int>(s + 1) * cell_w,
              kHeaderHeight - 7);
    }
    const cv::Mat clean = ToCell(image, factor);
    for (int r = 0; r < rows; ++r) {
      const int y = kHeaderHeight + r * cell_h;
      clean.copyTo(canvas(cv::Rect(kLabelWidth, y, clean.cols, clean.rows)));
      if (corruptions.empty()) break;
      Caption(canvas, corruptions[static_cast<size_t>(r)], 4, y + cell_h / 2);
      for (size_t s = 0; s < severities.size(); ++s) {
        absl::StatusOr<cv::Mat> corrupted =
            corrupt::Corrupt(image, corruptions[static_cast<size_t>(r)], severities[s], seed, static_cast<uint64_t>(i));
        if (!corrupted.ok()) return corrupted.status();
        const cv::Mat cell = ToCell(*corrupted, factor);
        cell.copyTo(canvas(cv::Rect(kLabelWidth + static_cast<int>(s + 1) * cell_w, y, cell.cols, cell.rows)));
      }
    }
    const std::string path = (std::filesystem::path(dir) / absl::StrCat("sample_", i, ".png")).string();
    if (!cv::imwrite(path, canvas)) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace wtserve::loadgen
