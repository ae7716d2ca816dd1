#include "common/data/dataset.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/data/idx.h"

namespace wtserve::data {
namespace fs = std::filesystem;

const std::vector<std::string>& FashionMnistClassNames() {
  static const auto* const kNames = new std::vector<std::string>{
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  return *kNames;
}

absl::StatusOr<ImageDataset> ReadIdx(const std::string& images_path, const std::string& labels_path) {
  absl::StatusOr<std::string> image_bytes = ReadMaybeGzippedFile(images_path);
  if (!image_bytes.ok()) return image_bytes.status();
  absl::StatusOr<IdxArray> images = ParseIdx(*image_bytes, 3, images_path);
  if (!images.ok()) return images.status();
  image_bytes->clear();
  absl::StatusOr<std::string> label_bytes = ReadMaybeGzippedFile(labels_path);
  if (!label_bytes.ok()) return label_bytes.status();
  absl::StatusOr<IdxArray> labels = ParseIdx(*label_bytes, 1, labels_path);
  if (!labels.ok()) return labels.status();

  const int64_t count = images->dims[0], rows = images->dims[1], cols = images->dims[2];
  if (rows == 0 || cols == 0) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, ": images are ", rows, "x", cols, " pixels"));
  }
  if (labels->dims[0] != count) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, " has ", count, " images but ", labels_path, " has ", labels->dims[0], " labels"));
  }
  ImageDataset dataset;
  dataset.height = rows;
  dataset.width = cols;
  dataset.channels = 1;
  dataset.images.reserve(static_cast<size_t>(count));
  dataset.labels.reserve(static_cast<size_t>(count));
  const size_t image_bytes_each = static_cast<size_t>(rows * cols);
  for (int64_t i = 0; i < count; ++i) {
    cv::Mat image(static_cast<int>(rows), static_cast<int>(cols), CV_8UC1);
    std::copy_n(images->data.data() + static_cast<size_t>(i) * image_bytes_each, image_bytes_each, image.ptr<char>());
    dataset.images.push_back(std::move(image));
    dataset.labels.push_back(static_cast<unsigned char>(labels->data[static_cast<size_t>(i)]));
  }
  return dataset;
}

absl::StatusOr<ImageDataset> ReadFashionMnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string images_path = (fs::path(dir) / (prefix + "-images-idx3-ubyte.gz")).string();
  const std::string labels_path = (fs::path(dir) / (prefix + "-labels-idx1-ubyte.gz")).string();
  absl::StatusOr<ImageDataset> dataset = ReadIdx(images_path, labels_path);
  if (!dataset.ok()) return dataset.status();
  if (dataset->height != 28 || dataset->width != 28) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, ": Fashion-MNIST images are 28x28, got ", dataset->height, "x", dataset->width));
  }
  const auto& names = FashionMnistClassNames();
  for (size_t i = 0; i < dataset->labels.size(); ++i) {
    if (dataset->labels[i] >= static_cast<int64_t>(names.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat(labels_path, ": label ", dataset->labels[i], " of sample ", i, " is outside 0..9"));
    }
  }
  dataset->class_names = names;
  return dataset;
}

namespace {

bool IsImageFile(const fs::path& path) {
  static const char* const kExtensions[] = {".png", ".jpg", ".jpeg", ".bmp",  ".pgm",
                                            ".ppm", ".pnm", ".tif",  ".tiff", ".webp"};
  const std::string ext = absl::AsciiStrToLower(path.extension().string());
  return std::find(std::begin(kExtensions), std::end(kExtensions), ext) != std::end(kExtensions);
}

}  // namespace

absl::StatusOr<ImageDataset> ReadImageFolder(const std::string& dir, int64_t channels) {
  if (channels != 1 && channels != 3) {
    return absl::InvalidArgumentError(absl::StrCat("image folder channels must be 1 or 3, got ", channels));
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("image folder ", dir, " does not exist or is not a directory"));
  }
  std::vector<fs::path> class_dirs;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory() && entry.path().filename().string().rfind('.', 0) != 0) {
      class_dirs.push_back(entry.path());
    }
  }
  if (ec) return absl::NotFoundError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  if (class_dirs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("image folder ", dir, " has no class subfolders (expected dir/<class>/<image>)"));
  }
  std::sort(class_dirs.begin(), class_dirs.end());

  ImageDataset dataset;
  dataset.channels = channels;
  bool first = true;
  for (size_t label = 0; label < class_dirs.size(); ++label) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(class_dirs[label], ec)) {
      if (entry.is_regular_file() && IsImageFile(entry.path())) files.push_back(entry.path());
    }
    if (ec) return absl::NotFoundError(absl::StrCat("cannot list ", class_dirs[label].string(), ": ", ec.message()));
    if (files.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("class folder ", class_dirs[label].string(), " has no images"));
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      cv::Mat image = cv::imread(file.string(), channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
      if (image.empty()) return absl::DataLossError(absl::StrCat("cannot decode image ", file.string()));
      if (image.depth() != CV_8U) image.convertTo(image, CV_8U);
      if (channels == 3) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
      if (first) {
        dataset.height = image.rows;
        dataset.width = image.cols;
        first = false;
      } else if (image.rows != dataset.height || image.cols != dataset.width) {
        dataset.height = dataset.width = 0;  // sizes vary
      }
      dataset.images.push_back(std::move(image));
      dataset.labels.push_back(static_cast<int64_t>(label));
    }
    dataset.class_names.push_back(class_dirs[label].filename().string());
  }
  return dataset;
}

}  // namespace wtserve::data
