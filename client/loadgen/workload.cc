#include "client/loadgen/workload.h"

#include <atomic>
#include <cstring>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "client/corrupt/corruptions.h"
#include "common/image/pixel_layout.h"

namespace wtserve::loadgen {

absl::StatusOr<InputKind> ParseInputKind(const std::string& text) {
  if (text == "fp32" || text == "FP32") return InputKind::kFp32;
  if (text == "uint8" || text == "UINT8") return InputKind::kUint8;
  if (text == "png" || text == "PNG") return InputKind::kPng;
  return absl::InvalidArgumentError(absl::StrCat("--input must be fp32, uint8 or png, got '", text, "'"));
}

const char* InputKindName(InputKind kind) {
  switch (kind) {
    case InputKind::kFp32: return "fp32";
    case InputKind::kUint8: return "uint8";
    case InputKind::kPng: return "png";
  }
  return "?";
}

absl::StatusOr<ModelIo> ModelIoFromMetadata(const ModelMetadata& metadata) {
  if (metadata.inputs.empty() || metadata.outputs.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", metadata.name, "' metadata lists no inputs or outputs"));
  }
  ModelIo io;
  const TensorMetadata& in = metadata.inputs[0];
  const TensorMetadata& out = metadata.outputs[0];
  io.input_name = in.name;
  io.input_datatype = in.datatype;
  io.output_name = out.name;
  std::vector<int64_t> shape = in.shape;
  io.batched = !shape.empty() && shape[0] == -1;
  if (io.batched) shape.erase(shape.begin());
  if (in.datatype == "BYTES") {
    // Encoded images only: the server resizes, so any size goes.
  } else if (shape.size() == 3 && shape[0] > 0 &&
             ((shape[1] > 0 && shape[2] > 0) || (shape[1] == -1 && shape[2] == -1))) {
    io.channels = shape[0];
    io.height = shape[1];
    io.width = shape[2];
  } else {
    return absl::FailedPreconditionError(absl::StrCat("model '", metadata.name, "' input '", in.name, "' has shape [",
                                                      absl::StrJoin(in.shape, ","),
                                                      "]; the loadgen sends images as [N,C,H,W]"));
  }
  if (!out.shape.empty() && out.shape.back() > 0) io.num_classes = out.shape.back();
  return io;
}

absl::StatusOr<data::ImageDataset> LoadData(const DataOptions& options, const ModelIo& io) {
  if (options.samples < 0) return absl::InvalidArgumentError("--samples must be >= 0");
  data::ImageDataset dataset;
  if (options.source == "fmnist") {
    if (options.split != "test" && options.split != "train") {
      return absl::InvalidArgumentError(absl::StrCat("--split must be test or train, got '", options.split, "'"));
    }
    absl::StatusOr<data::ImageDataset> read =
        data::ReadFashionMnist(options.fmnist_dir, options.split == "train" ? data::Split::kTrain : data::Split::kTest);
    if (!read.ok()) return read.status();
    dataset = *std::move(read);
  } else if (options.source == "folder") {
    if (options.image_folder.empty()) return absl::InvalidArgumentError("--data=folder needs --image_folder");
    absl::StatusOr<data::ImageDataset> read = data::ReadImageFolder(options.image_folder, io.channels == 3 ? 3 : 1);
    if (!read.ok()) return read.status();
    dataset = *std::move(read);
  } else if (options.source == "synthetic") {
    if (io.channels == 0 || io.height < 0) {
      return absl::FailedPreconditionError("--data=synthetic needs a model with a fixed-size tensor input");
    }
    const int64_t count = options.samples > 0 ? options.samples : 64;
    cv::RNG rng(options.seed);
    dataset.height = io.height;
    dataset.width = io.width;
    dataset.channels = io.channels;
    for (int64_t i = 0; i < count; ++i) {
      cv::Mat image(static_cast<int>(io.height), static_cast<int>(io.width), io.channels == 3 ? CV_8UC3 : CV_8UC1);
      rng.fill(image, cv::RNG::UNIFORM, 0, 256);
      dataset.images.push_back(image);
      dataset.labels.push_back(-1);
    }
    return dataset;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--data must be fmnist, folder or synthetic, got '", options.source, "'"));
  }
  if (options.samples > 0 && options.samples < dataset.size()) {
    dataset.images.resize(static_cast<size_t>(options.samples));
    dataset.labels.resize(static_cast<size_t>(options.samples));
  }
  return dataset;
}

absl::Status CheckCompatible(const data::ImageDataset& data, const ModelIo& io, InputKind kind, int64_t batch_size) {
  if (data.images.empty()) return absl::FailedPreconditionError("the data set has no images");
  if (kind != InputKind::kPng) {
    if (io.channels == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("model input '", io.input_name, "' takes encoded images only; use --input=png"));
    }
    if (data.height == 0) {
      return absl::FailedPreconditionError("images differ in size; tensors need one size (use --input=png)");
    }
    const bool any_size = io.height < 0;  // [C, -1, -1]: the images' own size
    if ((!any_size && (data.height != io.height || data.width != io.width)) || data.channels != io.channels) {
      return absl::FailedPreconditionError(absl::StrCat("data mismatch: images are ", data.channels, "x", data.height,
                                                        "x", data.width, " (CxHxW) but model input '", io.input_name,
                                                        "' is ", io.channels, "x", io.height, "x", io.width,
                                                        "; use --input=png to let the server resize"));
    }
  }
  if (!data.class_names.empty() && io.num_classes > 0 &&
      static_cast<int64_t>(data.class_names.size()) > io.num_classes) {
    return absl::FailedPreconditionError(absl::StrCat("data mismatch: the data set has ", data.class_names.size(),
                                                      " classes but the model outputs ", io.num_classes));
  }
  if (!io.batched && batch_size > 1) {
    return absl::FailedPreconditionError("the model has no batch dimension; use --batch_size=1");
  }
  return absl::OkStatus();
}

namespace {

absl::StatusOr<std::string> Encode(const cv::Mat& image, InputKind kind) {
  if (kind == InputKind::kPng) {
    cv::Mat bgr;
    if (image.channels() == 3) {
      cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);  // imencode expects BGR
    } else {
      bgr = image;
    }
    std::vector<uchar> png;
    if (!cv::imencode(".png", bgr, png)) return absl::InternalError("PNG encoding failed");
    return std::string(png.begin(), png.end());
  }
  // OpenCV's interleaved pixels -> the model's planes.
  const int c = image.channels();
  const size_t plane = image.total();
  std::string chw(plane * static_cast<size_t>(c), '\0');
  const cv::Mat contiguous = image.isContinuous() ? image : image.clone();
  wtserve::image::InterleavedToPlanar(contiguous.ptr<uint8_t>(), static_cast<int64_t>(plane), c,
                                      reinterpret_cast<uint8_t*>(chw.data()));
  return chw;
}

}  // namespace

absl::StatusOr<Workload> PrepareWorkload(const data::ImageDataset& data, const std::vector<Condition>& conditions,
                                         InputKind kind, uint64_t seed, int threads) {
  Workload w;
  w.kind = kind;
  w.channels = data.channels;
  w.height = data.height;
  w.width = data.width;
  w.conditions = conditions;
  w.class_names = data.class_names;
  const size_t n = data.images.size();
  const size_t total = n * conditions.size();
  w.payload.resize(total);
  w.labels.resize(total);
  w.condition_of.resize(total);
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  auto work = [&] {
    for (size_t item = next++; item < total; item = next++) {
      const size_t c = item / n, i = item % n;
      w.labels[item] = data.labels[i];
      w.condition_of[item] = static_cast<int32_t>(c);
      absl::StatusOr<std::string> payload;
      if (conditions[c].corruption.empty()) {
        payload = Encode(data.images[i], kind);
      } else {
        absl::StatusOr<cv::Mat> corrupted =
            corrupt::Corrupt(data.images[i], conditions[c].corruption, conditions[c].severity, seed, i);
        payload = corrupted.ok() ? Encode(*corrupted, kind) : absl::StatusOr<std::string>(corrupted.status());
      }
      if (!payload.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) {
          first_error =
              absl::Status(payload.status().code(),
                           absl::StrCat("preparing image ", i, " under ",
                                        conditions[c].corruption.empty() ? "clean" : conditions[c].corruption,
                                        " severity ", conditions[c].severity, ": ", payload.status().message()));
        }
        next = total;
        return;
      }
      w.payload[item] = *std::move(payload);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (!first_error.ok()) return first_error;
  return w;
}

InferRequest BuildRequest(const Workload& w, const std::vector<int64_t>& items, const ModelIo& io,
                          const std::string& model, const std::string& version, float fp32_scale) {
  InferRequest request;
  request.model_name = model;
  request.model_version = version;
  request.outputs.push_back({io.output_name, 1});
  const auto batch = static_cast<int64_t>(items.size());
  if (w.kind == InputKind::kPng) {
    std::vector<std::string> encoded;
    encoded.reserve(items.size());
    for (int64_t item : items) encoded.push_back(w.payload[static_cast<size_t>(item)]);
    request.inputs.push_back(Tensor::Bytes(io.input_name, {batch, 1}, encoded));
    return request;
  }
  const std::vector<int64_t> shape = io.batched ? std::vector<int64_t>{batch, w.channels, w.height, w.width}
                                                : std::vector<int64_t>{w.channels, w.height, w.width};
  Tensor t{io.input_name, w.kind == InputKind::kFp32 ? "FP32" : "UINT8", shape, {}};
  const size_t per_image = static_cast<size_t>(w.channels * w.height * w.width);
  if (w.kind == InputKind::kUint8) {
    t.raw.reserve(per_image * items.size());
    for (int64_t item : items) t.raw += w.payload[static_cast<size_t>(item)];
  } else {
    t.raw.resize(per_image * items.size() * sizeof(float));
    char* out = t.raw.data();
    for (int64_t item : items) {
      for (unsigned char pixel : w.payload[static_cast<size_t>(item)]) {
        const float value = static_cast<float>(pixel) * fp32_scale;  // the server's UINT8 expression
        std::memcpy(out, &value, sizeof(float));
        out += sizeof(float);
      }
    }
  }
  request.inputs.push_back(std::move(t));
  return request;
}

}  // namespace wtserve::loadgen
