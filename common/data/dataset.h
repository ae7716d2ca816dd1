// Labelled image data sets for the client side (loadgen, trainer, offline evaluation).
// Torch-free: images are OpenCV matrices, labels are class indices.
#ifndef WTSERVE_COMMON_DATA_DATASET_H_
#define WTSERVE_COMMON_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "absl/status/statusor.h"

namespace wtserve::data {

// A labelled set of 8-bit images.
struct ImageDataset {
  // Common image size in pixels; 0 when the images differ in size (only possible for
  // ReadImageFolder). channels is 1 (grayscale) or 3 (RGB).
  int64_t height = 0, width = 0, channels = 0;
  // CV_8UC1 or CV_8UC3 (RGB channel order, not OpenCV's usual BGR), one per sample.
  std::vector<cv::Mat> images;
  // labels[i] is the class index of images[i], in [0, class_names.size()) when class_names is
  // not empty.
  std::vector<int64_t> labels;
  // Human-readable class names, index = class. Empty when the source has none (raw IDX).
  std::vector<std::string> class_names;

  int64_t size() const { return static_cast<int64_t>(images.size()); }
};

enum class Split { kTrain, kTest };

// Where Debian's dataset-fashion-mnist package installs the gzipped IDX files.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// The 10 Fashion-MNIST class names, index = label (Zalando's published order).
const std::vector<std::string>& FashionMnistClassNames();

// Reads a pair of IDX files (gzipped or plain; detected from the content): images with magic
// 0x00000803 (uint8, dims N x rows x cols, big-endian) and labels with magic 0x00000801 (uint8,
// dims N). Result: channels 1, height rows, width cols, class_names empty.
// Errors: NotFound (missing file), DataLoss (truncated/corrupt gzip, data shorter or longer than
// the header says), InvalidArgument (wrong magic, element type or dimension count, zero-sized
// images, image and label counts differ). Messages name the file.
absl::StatusOr<ImageDataset> ReadIdx(const std::string& images_path, const std::string& labels_path);

// Reads Fashion-MNIST from `dir` ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz): 60000 train
// or 10000 test images of 28x28 grayscale, with class names. Errors as ReadIdx, plus
// InvalidArgument when the images are not 28x28 or a label is outside 0..9.
absl::StatusOr<ImageDataset> ReadFashionMnist(const std::string& dir, Split split);

// Reads an image folder labelled by subfolder: dir/<class>/<image file>. Class order = sorted
// subfolder names; files within a class are read in sorted name order. Files with extensions
// OpenCV decodes (png, jpg, jpeg, bmp, pgm, ppm, pnm, tif, tiff, webp) are read; other files are
// ignored. `channels` 1 loads grayscale, 3 loads RGB. Images keep their size.
// Errors: NotFound (dir missing), InvalidArgument (channels not 1 or 3, no class folders, a
// class folder without images), DataLoss (a file that does not decode). Messages name the path.
absl::StatusOr<ImageDataset> ReadImageFolder(const std::string& dir, int64_t channels);

}  // namespace wtserve::data

#endif  // WTSERVE_COMMON_DATA_DATASET_H_
