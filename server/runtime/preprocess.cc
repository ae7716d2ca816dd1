#include "server/runtime/preprocess.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "server/runtime/model_config.h"

namespace wtserve::runtime {
namespace {

int Interpolation(const std::string& name) {
  if (name == "bicubic") return cv::INTER_CUBIC;
  if (name == "area") return cv::INTER_AREA;
  if (name == "nearest") return cv::INTER_NEAREST;
  return cv::INTER_LINEAR;
}

// Converts to 1 or 3 channels (RGB order in, RGB order out).
absl::StatusOr<cv::Mat> ToChannels(const cv::Mat& image, int64_t channels) {
  cv::Mat out;
  switch (image.type()) {
    case CV_8UC1:
      if (channels == 1) return image;
      cv::cvtColor(image, out, cv::COLOR_GRAY2RGB);
      return out;
    case CV_8UC3:
      if (channels == 3) return image;
      cv::cvtColor(image, out, cv::COLOR_RGB2GRAY);
      return out;
    case CV_8UC4: cv::cvtColor(image, out, channels == 1 ? cv::COLOR_RGBA2GRAY : cv::COLOR_RGBA2RGB); return out;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("image must be 8-bit with 1, 3 or 4 channels, got OpenCV type ", image.type()));
  }
}

uint32_t BigEndian(const unsigned char* p, int bytes) {
  uint32_t value = 0;
  for (int i = 0; i < bytes; ++i) value = value << 8 | p[i];
  return value;
}

// What DecodeImage needs to know before it lets a decoder near the bytes.
struct ImageHeader {
  const char* format = "";  // "PNG" or "JPEG"
  int64_t width = 0, height = 0;
  // The file runs to its end marker. libjpeg (under cv::imdecode) decodes a truncated JPEG with
  // only a warning and paints the missing rows grey, so a cut-off upload would be classified as if
  // it were whole (PIL refuses such files); libpng refuses a cut-off PNG but prints "PNG input
  // buffer is incomplete" to stderr for each one.
  bool complete = false;
};

// PNG: the size from IHDR; complete when the chunks (length, type, data, CRC) run, each whole,
// to IEND.
ImageHeader ReadPng(const unsigned char* p, size_t n) {
  ImageHeader h;
  h.format = "PNG";
  h.width = BigEndian(p + 16, 4);
  h.height = BigEndian(p + 20, 4);
  for (size_t pos = 8; pos + 12 <= n;) {  // after the signature
    const uint64_t length = BigEndian(p + pos, 4);
    const bool end = std::equal(p + pos + 4, p + pos + 8, "IEND");
    if (length > n - pos - 12) break;
    pos += 12 + static_cast<size_t>(length);
    if (end) {
      h.complete = true;
      break;
    }
  }
  return h;
}

// JPEG, in one walk: the marker segments, skipping their payloads (an EXIF thumbnail there has
// markers of its own), the size from the first SOFn, and each scan's entropy-coded data, in which
// 0xFF is only ever followed by 0x00 (stuffing), a restart marker or another 0xFF (fill); any
// other marker ends the scan. Complete when EOI is reached. nullopt without a SOFn.
std::optional<ImageHeader> ReadJpeg(const unsigned char* p, size_t n) {
  ImageHeader h;
  h.format = "JPEG";
  bool sized = false;
  size_t pos = 2;  // after SOI
  while (pos + 2 <= n && p[pos] == 0xFF) {
    const unsigned char marker = p[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xD9) {  // EOI
      h.complete = true;
      break;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      pos += 2;  // markers without a length
      continue;
    }
    if (pos + 4 > n) break;
    const uint32_t length = BigEndian(p + pos + 2, 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof && !sized) {
      if (pos + 9 > n) break;
      h.height = BigEndian(p + pos + 5, 2);
      h.width = BigEndian(p + pos + 7, 2);
      sized = true;
    }
    if (length < 2) break;
    pos += 2 + length;
    if (marker != 0xDA) continue;
    // SOS: entropy-coded data up to the next marker.
    while (pos + 1 < n) {
      if (p[pos] != 0xFF) {
        ++pos;
        continue;
      }
      const unsigned char next = p[pos + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
        pos += 2;
      } else if (next == 0xFF) {
        ++pos;
      } else {
        break;
      }
    }
  }
  if (!sized) return std::nullopt;
  return h;
}

// The header of a PNG or JPEG; nullopt when the bytes are neither or the size is cut off.
std::optional<ImageHeader> ReadImageHeader(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  static constexpr unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 24 && std::equal(kPng, kPng + 8, p) && std::equal(p + 12, p + 16, "IHDR")) {
    return ReadPng(p, n);
  }
  if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8) return ReadJpeg(p, n);
  return std::nullopt;
}

}  // namespace

absl::StatusOr<at::Tensor> NormalizePixels(const at::Tensor& pixels, const config::InputPreprocessing& pp) {
  if (pixels.dim() != 4) {
    return absl::InvalidArgumentError(absl::StrCat("pixels must be [N, C, H, W], got rank ", pixels.dim()));
  }
  const int64_t channels = pixels.size(1);
  if (channels != pp.mean_size() || channels != pp.std_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pixels have ", channels, " channels, preprocessing expects ", pp.mean_size()));
  }
  if (pixels.scalar_type() != at::kByte && pixels.scalar_type() != at::kFloat) {
    return absl::InvalidArgumentError(
        absl::StrCat("pixels must be uint8 or float32, got ", c10::toString(pixels.scalar_type())));
  }
  // One pass in plain loops rather than ATen's to/mul_/sub_/div_ (six ops whose dispatch was
  // ~17% of gRPC's threads' samples in a server profile at concurrency 16), with the same float32
  // operations in the same order, so the results are bit-identical: uint8 as float(pixel) *
  // scale, then (x - mean[c]) / std[c] with IEEE division. No FMA: this file is compiled for the
  // baseline ISA.
  const at::Tensor in = pixels.contiguous();
  at::Tensor x = at::empty(in.sizes(), in.options().dtype(at::kFloat));
  const int64_t batch = in.size(0), plane = in.size(2) * in.size(3);
  const float scale = pp.scale();
  float* out = x.data_ptr<float>();
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const float mean = pp.mean(static_cast<int>(c)), std = pp.std(static_cast<int>(c));
      const int64_t offset = (n * channels + c) * plane;
      float* dst = out + offset;
      if (in.scalar_type() == at::kByte) {
        const uint8_t* src = in.data_ptr<uint8_t>() + offset;
        for (int64_t i = 0; i < plane; ++i) dst[i] = (static_cast<float>(src[i]) * scale - mean) / std;
      } else {
        const float* src = in.data_ptr<float>() + offset;
        for (int64_t i = 0; i < plane; ++i) dst[i] = (src[i] - mean) / std;
      }
    }
  }
  return x;
}

absl::StatusOr<at::Tensor> ImageToPixels(const cv::Mat& image, const config::ModelInput& input,
                                         const config::InputPreprocessing& pp) {
  if (image.empty()) return absl::InvalidArgumentError("image is empty");
  if (input.dims_size() != 3) {
    return absl::InvalidArgumentError("input dims must be [C, H, W] (validate the config first)");
  }
  const int64_t channels = input.dims(0);
  absl::StatusOr<cv::Mat> converted = ToChannels(image, channels);
  if (!converted.ok()) return converted.status();
  const int interpolation = Interpolation(pp.interpolation());
  const bool variable = HasVariableSpatialDims(input);
  const int rows = converted->rows;
  const int cols = converted->cols;

  cv::Mat resized;
  if (pp.resize_shorter_side() > 0) {
    // torchvision Resize(R): the shorter side becomes R, the longer int(R * long / short).
    const int64_t r = pp.resize_shorter_side();
    int new_rows, new_cols;
    if (rows <= cols) {
      new_rows = static_cast<int>(r);
      new_cols = static_cast<int>(r * cols / rows);
    } else {
      new_cols = static_cast<int>(r);
      new_rows = static_cast<int>(r * rows / cols);
    }
    cv::Mat scaled;
    if (new_rows == rows && new_cols == cols) {
      scaled = *converted;
    } else {
      cv::resize(*converted, scaled, cv::Size(new_cols, new_rows), 0, 0, interpolation);
    }
    if (pp.center_crop() == 0) {
      resized = scaled;  // variable-size inputs only (validation)
    } else {
      const int crop = static_cast<int>(pp.center_crop());
      if (new_rows < crop || new_cols < crop) {
        return absl::InvalidArgumentError(
            absl::StrCat("image of ", cols, "x", rows, " is too small to crop to ", crop, "x", crop));
      }
      // torchvision CenterCrop: offsets round((size - crop) / 2).
      const int top = static_cast<int>(std::lround((new_rows - crop) / 2.0));
      const int left = static_cast<int>(std::lround((new_cols - crop) / 2.0));
      resized = scaled(cv::Rect(left, top, crop, crop));
    }
  } else if (variable) {
    resized = *converted;  // served at the size it came in
  } else {
    const int height = static_cast<int>(input.dims(1));
    const int width = static_cast<int>(input.dims(2));
    if (rows == height && cols == width) {
      resized = *converted;
    } else {
      cv::resize(*converted, resized, cv::Size(width, height), 0, 0, interpolation);
    }
  }
  const int height = resized.rows;
  const int width = resized.cols;
  if (absl::Status s = CheckSpatialSize(input, height, width); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("image of ", cols, "x", rows, " pixels: ", s.message()));
  }

  // HWC (interleaved) -> CHW. from_blob does not own the Mat's memory (which may be the
  // caller's image), so the result is always a fresh copy.
  const cv::Mat contiguous = resized.isContinuous() ? resized : resized.clone();
  const at::Tensor hwc = at::from_blob(contiguous.data, {height, width, channels}, at::kByte);
  return hwc.permute({2, 0, 1}).clone(at::MemoryFormat::Contiguous);
}

absl::StatusOr<at::Tensor> DecodeImage(std::string_view encoded, const config::ModelInput& input,
                                       const config::InputPreprocessing& pp) {
  if (encoded.empty()) return absl::InvalidArgumentError("cannot decode an empty image");
  const std::optional<ImageHeader> header = ReadImageHeader(encoded);
  if (!header) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode the image (", encoded.size(), " bytes): not a PNG or JPEG"));
  }
  const int64_t width = header->width, height = header->height;
  // A PNG header holds 32-bit sides: their product can overflow int64, so divide instead.
  if (width < 1 || height < 1 || width > kMaxDecodedPixels / height) {
    return absl::InvalidArgumentError(absl::StrCat("cannot decode the image: ", header->format, " of ", width, "x",
                                                   height, " pixels; at most ", kMaxDecodedPixels,
                                                   " pixels are accepted"));
  }
  if (!header->complete) {
    const bool jpeg = std::string_view(header->format) == "JPEG";
    return absl::InvalidArgumentError(absl::StrCat("cannot decode the image: the ", header->format, " (",
                                                   encoded.size(),
                                                   " bytes) is truncated or damaged (its data does not reach the ",
                                                   jpeg ? "end-of-image marker" : "IEND chunk", ")"));
  }
  const cv::Mat buffer(1, static_cast<int>(encoded.size()), CV_8UC1, const_cast<char*>(encoded.data()));
  const bool gray = input.dims_size() == 3 && input.dims(0) == 1;
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(buffer, gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    // cv::Exception::what() prefixes the OpenCV source path and line; err is the reason alone.
    return absl::InvalidArgumentError(absl::StrCat("cannot decode the image: ", e.err));
  }
  if (decoded.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode the image (", encoded.size(), " bytes): not a PNG/JPEG OpenCV can read"));
  }
  if (!gray) cv::cvtColor(decoded, decoded, cv::COLOR_BGR2RGB);
  return ImageToPixels(decoded, input, pp);
}

}  // namespace wtserve::runtime
