#include "client/corrupt/corruptions.h"

#include <algorithm>
#include <array>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/corrupt/corruption_impl.h"

namespace wtserve::corrupt {
namespace {

struct Entry {
  std::string_view name;
  std::string_view group;
  CorruptionFn fn;
};

// ImageNet-C's order (docs/corruptions.md): its 15 corruptions, then the 4 extras.
constexpr std::array<Entry, 19> kEntries = {{
    {"gaussian_noise", "noise", &GaussianNoise},
    {"shot_noise", "noise", &ShotNoise},
    {"impulse_noise", "noise", &ImpulseNoise},
    {"defocus_blur", "blur", &DefocusBlur},
    {"glass_blur", "blur", &GlassBlur},
    {"motion_blur", "blur", &MotionBlurCorruption},
    {"zoom_blur", "blur", &ZoomBlur},
    {"snow", "weather", &Snow},
    {"frost", "weather", &Frost},
    {"fog", "weather", &Fog},
    {"brightness", "weather", &Brightness},
    {"contrast", "digital", &Contrast},
    {"elastic_transform", "digital", &ElasticTransform},
    {"pixelate", "digital", &Pixelate},
    {"jpeg_compression", "digital", &JpegCompression},
    {"speckle_noise", "extra", &SpeckleNoise},
    {"gaussian_blur", "extra", &GaussianBlurCorruption},
    {"spatter", "extra", &Spatter},
    {"saturate", "extra", &Saturate},
}};
constexpr size_t kNumImageNetC = 15;

// abseil 20220623 as packaged has its own string_view type, distinct from std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

const Entry* Find(std::string_view name) {
  for (const Entry& e : kEntries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace

const std::vector<std::string>& CorruptionNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Entry& e : kEntries) v.emplace_back(e.name);
    return v;
  }();
  return names;
}

std::string_view GroupOf(std::string_view name) {
  const Entry* e = Find(name);
  return e == nullptr ? std::string_view() : e->group;
}

absl::StatusOr<std::vector<std::string>> ParseCorruptions(std::string_view spec) {
  if (absl::StripAsciiWhitespace(Absl(spec)).empty()) {
    return absl::InvalidArgumentError(
        "empty corruption spec; use 'all', 'imagenet-c', 'extra', a group (noise, blur, weather, "
        "digital) or a comma-separated list of corruption names");
  }
  std::vector<std::string> out;
  auto add = [&out](std::string_view name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
  };
  for (absl::string_view raw : absl::StrSplit(Absl(spec), ',')) {
    const std::string item = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("empty item in corruption spec '", Absl(spec), "'"));
    }
    if (item == "all") {
      for (const Entry& e : kEntries) add(e.name);
    } else if (item == "imagenet-c") {
      for (size_t i = 0; i < kNumImageNetC; ++i) add(kEntries[i].name);
    } else if (item == "noise" || item == "blur" || item == "weather" || item == "digital" || item == "extra") {
      for (const Entry& e : kEntries) {
        if (e.group == item) add(e.name);
      }
    } else if (Find(item) != nullptr) {
      add(item);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown corruption '", item, "' in spec '", Absl(spec),
                       "'; accepted: all, imagenet-c, extra, noise, blur, weather, digital, ",
                       absl::StrJoin(CorruptionNames(), ", ")));
    }
  }
  return out;
}

ParameterTable ParameterTableFor(int rows, int cols) {
  const int side = std::min(rows, cols);
  if (side <= 47) return ParameterTable::kCifar;
  if (side <= 127) return ParameterTable::kTinyImageNet;
  return ParameterTable::kImageNet;
}

int ReferenceSize(ParameterTable table) { return TableFor(table).reference_size; }

uint64_t DeriveSeed(uint64_t seed, uint64_t image_index, std::string_view corruption, int severity) {
  uint64_t h = Mix64(seed);
  h = Mix64(h ^ image_index);
  h = Mix64(h ^ Fnv1a64(corruption));
  h = Mix64(h ^ static_cast<uint64_t>(severity));
  return h;
}

absl::StatusOr<cv::Mat> Corrupt(const cv::Mat& image, std::string_view corruption, int severity, uint64_t seed,
                                uint64_t image_index) {
  if (image.empty()) return absl::InvalidArgumentError("cannot corrupt an empty image");
  if (image.dims == 3 && image.channels() == 1 && (image.size[2] == 1 || image.size[2] == 3)) {
    // An H x W x C array (how numpy, and a 3-D cv::Mat built from it, hold an image): the same
    // bytes as a 2-D image with C interleaved channels. Corrupted as that, returned in its shape.
    const cv::Mat continuous = image.isContinuous() ? image : image.clone();
    const cv::Mat interleaved(continuous.size[0], continuous.size[1], CV_8UC(continuous.size[2]), continuous.data);
    absl::StatusOr<cv::Mat> out = Corrupt(interleaved, corruption, severity, seed, image_index);
    if (!out.ok()) return out;
    const int sizes[3] = {image.size[0], image.size[1], image.size[2]};
    return out->reshape(1, 3, sizes);
  }
  if (image.dims != 2) {
    std::vector<int> sizes(image.size.p, image.size.p + image.dims);
    return absl::InvalidArgumentError(absl::StrCat(
        "corruptions need a 2-D image (rows x cols with 1 or 3 channels) or an H x W x C array "
        "with C = 1 or 3; got a ",
        image.dims, "-D array of ", absl::StrJoin(sizes, " x "), " with ", image.channels(), " channel(s)"));
  }
  if (image.type() != CV_8UC1 && image.type() != CV_8UC3) {
    return absl::InvalidArgumentError(
        absl::StrCat("corruptions need an 8-bit image with 1 (grey) or 3 (RGB) channels; got "
                     "depth ",
                     image.depth(), " with ", image.channels(), " channels"));
  }
  const Entry* entry = Find(corruption);
  if (entry == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown corruption '", Absl(corruption), "'; known: ", absl::StrJoin(CorruptionNames(), ", ")));
  }
  if (severity < kMinSeverity || severity > kMaxSeverity) {
    return absl::InvalidArgumentError(absl::StrCat("severity must be 1..5, got ", severity));
  }
  const ParameterTable table_id = ParameterTableFor(image.rows, image.cols);
  const SeverityTable& table = TableFor(table_id);
  Rng rng(DeriveSeed(seed, image_index, corruption, severity));
  Context ctx{severity, table, static_cast<double>(std::min(image.rows, image.cols)) / table.reference_size, rng};
  // The implementations assume continuous storage.
  const cv::Mat input = image.isContinuous() ? image : image.clone();
  try {
    cv::Mat out = entry->fn(input, ctx);
    CV_Assert(out.size() == image.size() && out.type() == image.type());
    return out;
  } catch (const cv::Exception& e) {
    // Not expected for valid inputs (the tests cover 1x1 and up); reported, never thrown.
    return absl::InternalError(absl::StrCat("corruption '", Absl(corruption), "' severity ", severity, " failed on a ",
                                            image.rows, "x", image.cols, " image: ", e.err));
  }
}

}  // namespace wtserve::corrupt
