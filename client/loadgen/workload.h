// What the loadgen sends: the data set, its corrupted copies and the payload of every item,
// all prepared before the timed phase.
#ifndef WTSERVE_CLIENT_LOADGEN_WORKLOAD_H_
#define WTSERVE_CLIENT_LOADGEN_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "wtserve/client.h"

namespace wtserve::loadgen {

// Wire form of the images: FP32 = float(pixel) * scale (the model's input_preprocessing.scale,
// 1/255 by default), UINT8 = raw pixels, PNG = one encoded PNG per image (BYTES).
enum class InputKind { kFp32, kUint8, kPng };
absl::StatusOr<InputKind> ParseInputKind(const std::string& text);  // "fp32", "uint8", "png"
const char* InputKindName(InputKind kind);

// The model's tensors as its metadata describes them.
struct ModelIo {
  std::string input_name, input_datatype, output_name;
  int64_t channels = 0, height = 0, width = 0;  // 0 when the input takes encoded images only;
                                                // height = width = -1: any size ([C, -1, -1])
  int64_t num_classes = 0;                      // 0 when unknown
  bool batched = true;                          // leading -1 dimension
};
// From ModelMetadata: input 0 ([-1,C,H,W] or [C,H,W]; BYTES [-1,1]) and output 0 ([-1,K] or [K]).
// FailedPrecondition when the model has no inputs/outputs or an input shape of another rank.
absl::StatusOr<ModelIo> ModelIoFromMetadata(const ModelMetadata& metadata);

// Where images come from.
struct DataOptions {
  std::string source = "fmnist";  // "fmnist", "folder", "synthetic"
  std::string fmnist_dir = data::kFashionMnistDir;
  std::string split = "test";  // fmnist only: "test" or "train"
  std::string image_folder;    // folder only
  int64_t samples = 0;         // 0: all (synthetic: 64); else the first `samples` images
  uint64_t seed = 0;           // synthetic pixels
};
// Loads (and subsamples) the data. Synthetic images are uniform random pixels of the model's
// input size, unlabelled (labels -1, no class names). The first `samples` images are taken in
// file order (Fashion-MNIST's test split is not ordered by class), so an offline evaluation of
// the first N images sees exactly the same images.
absl::StatusOr<data::ImageDataset> LoadData(const DataOptions& options, const ModelIo& io);

// FailedPrecondition with both sizes named when tensors of this data cannot feed the model
// (size or channels differ for FP32/UINT8, more classes than the model outputs, no batch
// dimension with batch_size > 1).
absl::Status CheckCompatible(const data::ImageDataset& data, const ModelIo& io, InputKind kind, int64_t batch_size);

// One condition of the robustness grid. corruption empty = clean (severity 0).
struct Condition {
  std::string corruption;
  int severity = 0;
};

// Every item = (image, condition), condition-major: all images clean, then corruption 1 at
// severity 1, ... Payloads hold CHW uint8 pixels (FP32/UINT8) or PNG bytes.
struct Workload {
  InputKind kind = InputKind::kUint8;
  int64_t channels = 0, height = 0, width = 0;
  std::vector<Condition> conditions;
  std::vector<std::string> payload;
  std::vector<int64_t> labels;        // per item, -1 when unlabelled
  std::vector<int32_t> condition_of;  // per item, index into conditions
  std::vector<std::string> class_names;
  bool labelled() const { return !class_names.empty(); }
  int64_t size() const { return static_cast<int64_t>(payload.size()); }
};

// Corrupts (wtserve::corrupt::Corrupt with image_index = position in `data`) and encodes all
// items using `threads` threads. Errors from the corruption library or the PNG encoder.
absl::StatusOr<Workload> PrepareWorkload(const data::ImageDataset& data, const std::vector<Condition>& conditions,
                                         InputKind kind, uint64_t seed, int threads);

// The request for `items` (indices into the workload): input [B,C,H,W] (FP32/UINT8) or
// BYTES [B,1] (PNG); output 0 with classification top-1.
InferRequest BuildRequest(const Workload& workload, const std::vector<int64_t>& items, const ModelIo& io,
                          const std::string& model, const std::string& version, float fp32_scale);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_WORKLOAD_H_
