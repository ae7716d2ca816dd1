// Reading and validating a model's config.pbtxt (schema: proto/model_config.proto).
//
// A config is parsed with protobuf's TextFormat, then every field is validated and the defaults
// the schema documents are written into the message, so that code downstream never has to
// reinterpret a zero. Every error names the config file and the field path, e.g.
//   "models/m/config.pbtxt: input[0].dims: expected [C, H, W] with C in {1, 3}, got [2, 28]".
//
// Defaults filled in (proto3 zero = unset):
//   platform                "wtserve_architecture" when `architecture` is set
//   default_model_filename  "model.pt"
//   architecture.in_chans   input dims C;  architecture.num_classes  output dims[0]
//   architecture.width_mult 1.0
//   output.label_filename   "labels.txt" (the file itself is optional)
//   input_preprocessing     scale 1/255, mean [0]*C, std [1]*C (a single value is broadcast to C),
//                           interpolation "bilinear"
//   instance_group          one group {count 1, kind KIND_AUTO}; count 0 -> 1; KIND_GPU gpus -> [0]
//   optimization.precision  "fp32"
//   input[0].max_side       1024 when dims are [C, -1, -1] (min_side 0: found by the loader)
//   model_warmup            one {name "default", batch_size 1, count 1}; batch_size/count 0 -> 1;
//                           dims -> input[0].dims (left empty for [C, -1, -1] inputs)
//   version_policy          latest {num_versions 1}
#ifndef WTSERVE_SERVER_RUNTIME_MODEL_CONFIG_H_
#define WTSERVE_SERVER_RUNTIME_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model_config.pb.h"

namespace wtserve::runtime {

inline constexpr char kPlatformArchitecture[] = "wtserve_architecture";
inline constexpr char kPlatformTorchScript[] = "pytorch_libtorch";
inline constexpr char kConfigFileName[] = "config.pbtxt";

// Parses protobuf text `text`; `path` is only used in error messages.
// Errors: INVALID_ARGUMENT with the parser's line:column message.
absl::StatusOr<config::ModelConfig> ParseModelConfigText(std::string_view text, const std::string& path);

// Validates `cfg` and fills the defaults listed above. `expected_name`, when non-empty, is the
// model's folder name, which `cfg.name()` must equal (an empty name is filled with it).
// Errors: INVALID_ARGUMENT "<path>: <field>: <what is wrong>".
absl::Status ValidateModelConfig(config::ModelConfig& cfg, const std::string& path,
                                 std::string_view expected_name = {});

// Reads, parses and validates `<model_dir>/config.pbtxt`; the folder's base name is the
// expected model name. Errors: NOT_FOUND if the file is missing, INVALID_ARGUMENT otherwise.
absl::StatusOr<config::ModelConfig> ReadModelConfig(const std::string& model_dir);

// The versions to serve, ascending, chosen by `policy` (already validated) among `available`
// (the numeric version folders found). Specific versions that are not available are an error
// (NOT_FOUND naming them); an empty result is returned as NOT_FOUND too.
absl::StatusOr<std::vector<int64_t>> SelectVersions(const config::ModelVersionPolicy& policy,
                                                    std::vector<int64_t> available);

// True when `input` (validated) has dims [C, -1, -1]: any height and width in
// [min_side, max_side] (min_side 0 until the loader has found the network's smallest side).
bool HasVariableSpatialDims(const config::ModelInput& input);

// OK when an image of height x width pixels fits `input`: equal to dims H, W, or, for
// [C, -1, -1], each side within [max(1, min_side), max_side].
// Errors: INVALID_ARGUMENT "H x W = ... does not match ..." / "... is outside the model's bounds".
absl::Status CheckSpatialSize(const config::ModelInput& input, int64_t height, int64_t width);

// The wire data type name (OIP v2: "FP32", "UINT8", "BYTES", "FP16", "BF16") of a config type.
std::string_view WireDataType(config::DataType type);

// True if `name` is a single path component safe to join under a directory: non-empty,
// not "." or "..", no '/', '\\' or NUL, and at most 255 bytes. Model names and file names
// from configs and requests go through this so that nothing escapes the repository.
bool IsSafePathComponent(std::string_view name);

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_MODEL_CONFIG_H_
