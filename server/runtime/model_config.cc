#include "server/runtime/model_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace wtserve::runtime {
namespace {

using config::DataType;
using config::ModelConfig;
using config::ModelInstanceGroup;

// Generous bounds that catch typos (a delay in ns instead of µs) without limiting real use.
constexpr int32_t kMaxBatchSizeLimit = 4096;
constexpr int64_t kMaxImageSide = 8192;
// Largest H and W of a [C, -1, -1] input unless max_side says otherwise: a batch of such images
// through a ConvNeXt stays within a few GB.
constexpr int64_t kDefaultMaxSide = 1024;
constexpr int32_t kMaxInstances = 64;
constexpr uint64_t kMaxQueueDelayMicros = 10'000'000;  // 10 s
constexpr int32_t kMaxWarmupCount = 1000;

// Collects the parser's errors as "line:column: message" (1-based, as editors show them).
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (!errors_.empty()) errors_ += "; ";
    absl::StrAppend(&errors_, line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int line, int column, const std::string& message) override {}
  const std::string& errors() const { return errors_; }

 private:
  std::string errors_;
};

class Validator {
 public:
  explicit Validator(const std::string& path) : path_(path) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", field, ": ", what));
  }

 private:
  const std::string& path_;
};

std::string DimsString(const google::protobuf::RepeatedField<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

// mean/std: empty -> C copies of `fallback`; one value -> broadcast to C; C values kept.
absl::Status FillPerChannel(google::protobuf::RepeatedField<float>* values, int64_t channels, float fallback,
                            bool must_be_positive, absl::string_view field, const Validator& v) {
  if (values->empty()) values->Add(fallback);
  if (values->size() == 1 && channels > 1) {
    const float value = values->Get(0);
    while (values->size() < channels) values->Add(value);
  }
  if (values->size() != channels) {
    return v.Error(field, absl::StrCat("expected 1 or ", channels, " values (one per channel), got ", values->size()));
  }
  for (int i = 0; i < values->size(); ++i) {
    const float x = values->Get(i);
    if (!std::isfinite(x) || (must_be_positive && !(x > 0))) {
      return v.Error(absl::StrCat(field, "[", i, "]"),
                     absl::StrCat(must_be_positive ? "must be finite and > 0" : "must be finite", ", got ", x));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateInput(ModelConfig& cfg, const Validator& v) {
  if (cfg.input_size() != 1) {
    return v.Error("input", absl::StrCat("exactly one input is supported (the image batch), got ", cfg.input_size()));
  }
  config::ModelInput& in = *cfg.mutable_input(0);
  if (in.name().empty()) return v.Error("input[0].name", "must not be empty");
  switch (in.data_type()) {
    case config::TYPE_FP32:
    case config::TYPE_UINT8:
    case config::TYPE_STRING: break;
    default:
      return v.Error("input[0].data_type", absl::StrCat("must be TYPE_FP32, TYPE_UINT8 or TYPE_STRING, got ",
                                                        config::DataType_Name(in.data_type())));
  }
  // dims are the pixel tensor the model consumes, whatever the wire type: images sent as
  // TYPE_STRING are decoded and resized to exactly this shape.
  const auto& d = in.dims();
  const bool variable = d.size() == 3 && d[1] == -1 && d[2] == -1;
  if (d.size() != 3 || (d[0] != 1 && d[0] != 3) ||
      (!variable && (d[1] < 1 || d[2] < 1 || d[1] > kMaxImageSide || d[2] > kMaxImageSide))) {
    return v.Error("input[0].dims", absl::StrCat("expected [C, H, W] with C in {1, 3} and 1 <= H, W <= ", kMaxImageSide,
                                                 ", or [C, -1, -1] for any size; got ", DimsString(d)));
  }
  if (!variable) {
    if (in.min_side() != 0 || in.max_side() != 0) {
      return v.Error(in.min_side() != 0 ? "input[0].min_side" : "input[0].max_side",
                     "applies only to dims [C, -1, -1]");
    }
    return absl::OkStatus();
  }
  if (in.max_side() == 0) in.set_max_side(kDefaultMaxSide);
  if (in.max_side() < 1 || in.max_side() > kMaxImageSide) {
    return v.Error("input[0].max_side", absl::StrCat("must be in [1, ", kMaxImageSide, "], got ", in.max_side()));
  }
  // min_side 0 stays 0 here: the loader finds the smallest side the network runs on.
  if (in.min_side() < 0 || in.min_side() > in.max_side()) {
    return v.Error("input[0].min_side",
                   absl::StrCat("must be in [0, max_side = ", in.max_side(), "], got ", in.min_side()));
  }
  return absl::OkStatus();
}

absl::Status ValidateOutput(ModelConfig& cfg, const Validator& v) {
  if (cfg.output_size() != 1) {
    return v.Error("output", absl::StrCat("exactly one output is supported (the logits), got ", cfg.output_size()));
  }
  config::ModelOutput& out = *cfg.mutable_output(0);
  if (out.name().empty()) return v.Error("output[0].name", "must not be empty");
  if (out.data_type() != config::TYPE_FP32) {
    return v.Error("output[0].data_type",
                   absl::StrCat("must be TYPE_FP32 (logits), got ", config::DataType_Name(out.data_type())));
  }
  if (out.dims_size() != 1 || out.dims(0) < 1) {
    return v.Error("output[0].dims",
                   absl::StrCat("expected [num_classes] with num_classes >= 1, got ", DimsString(out.dims())));
  }
  if (out.label_filename().empty()) out.set_label_filename("labels.txt");
  if (!IsSafePathComponent(out.label_filename())) {
    return v.Error(
        "output[0].label_filename",
        absl::StrCat("must be a file name inside the version or model folder, got \"", out.label_filename(), "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidatePlatform(ModelConfig& cfg, const Validator& v) {
  if (cfg.platform().empty() && cfg.has_architecture()) cfg.set_platform(kPlatformArchitecture);
  const int64_t channels = cfg.input(0).dims(0);
  const int64_t classes = cfg.output(0).dims(0);
  if (cfg.platform() == kPlatformArchitecture) {
    if (!cfg.has_architecture()) {
      return v.Error("architecture",
                     "required when platform is \"wtserve_architecture\" (e.g. architecture "
                     "{ name: \"wtconvnext_fmnist\" })");
    }
    config::ArchitectureSpec& a = *cfg.mutable_architecture();
    if (a.name().empty()) return v.Error("architecture.name", "must name a registered architecture");
    if (a.in_chans() == 0) a.set_in_chans(channels);
    if (a.in_chans() != channels) {
      return v.Error("architecture.in_chans",
                     absl::StrCat(a.in_chans(), " does not match input[0].dims C = ", channels));
    }
    if (a.num_classes() == 0) a.set_num_classes(classes);
    if (a.num_classes() != classes) {
      return v.Error("architecture.num_classes",
                     absl::StrCat(a.num_classes(), " does not match output[0].dims = ", classes));
    }
    if (a.width_mult() == 0) a.set_width_mult(1.0);
    if (!std::isfinite(a.width_mult()) || a.width_mult() <= 0 || a.width_mult() > 16) {
      return v.Error("architecture.width_mult", absl::StrCat("must be in (0, 16], got ", a.width_mult()));
    }
    if (a.checkpoint_entry().size() > 256 ||
        !std::all_of(a.checkpoint_entry().begin(), a.checkpoint_entry().end(),
                     [](char c) { return absl::ascii_isgraph(static_cast<unsigned char>(c)); })) {
      return v.Error("architecture.checkpoint_entry",
                     "must be a top-level key of the checkpoint (printable, no spaces, at most 256 "
                     "bytes), e.g. \"state_dict_ema\"");
    }
  } else if (cfg.platform() == kPlatformTorchScript) {
    if (cfg.has_architecture()) {
      return v.Error("architecture", "must not be set when platform is \"pytorch_libtorch\"");
    }
  } else {
    return v.Error("platform", absl::StrCat("must be \"", kPlatformArchitecture, "\" or \"", kPlatformTorchScript,
                                            "\", got \"", cfg.platform(), "\""));
  }
  if (cfg.default_model_filename().empty()) cfg.set_default_model_filename("model.pt");
  if (!IsSafePathComponent(cfg.default_model_filename())) {
    return v.Error("default_model_filename", absl::StrCat("must be a file name inside the version folder, got \"",
                                                          cfg.default_model_filename(), "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidatePreprocessing(ModelConfig& cfg, const Validator& v) {
  config::InputPreprocessing& p = *cfg.mutable_input_preprocessing();
  const auto& d = cfg.input(0).dims();
  if (p.scale() == 0) p.set_scale(1.0f / 255.0f);
  if (!std::isfinite(p.scale()) || p.scale() < 0) {
    return v.Error("input_preprocessing.scale", absl::StrCat("must be finite and > 0, got ", p.scale()));
  }
  if (auto s = FillPerChannel(p.mutable_mean(), d[0], 0.0f, false, "input_preprocessing.mean", v); !s.ok()) {
    return s;
  }
  if (auto s = FillPerChannel(p.mutable_std(), d[0], 1.0f, true, "input_preprocessing.std", v); !s.ok()) {
    return s;
  }
  if (p.resize_shorter_side() < 0 || p.resize_shorter_side() > kMaxImageSide) {
    return v.Error("input_preprocessing.resize_shorter_side",
                   absl::StrCat("must be in [0, ", kMaxImageSide, "], got ", p.resize_shorter_side()));
  }
  if (p.center_crop() < 0) {
    return v.Error("input_preprocessing.center_crop", absl::StrCat("must be >= 0, got ", p.center_crop()));
  }
  const bool variable = HasVariableSpatialDims(cfg.input(0));
  if (variable) {
    // Any size: keep the decoded size, resize the shorter side (aspect kept), or resize the
    // shorter side and crop the center. The result must lie within the side bounds.
    if (p.center_crop() > 0 && p.resize_shorter_side() == 0) {
      return v.Error("input_preprocessing.center_crop",
                     "needs resize_shorter_side (resize the shorter side, then crop the center)");
    }
    const int64_t side = p.center_crop() > 0 ? p.center_crop() : p.resize_shorter_side();
    if (side > 0 && (side < cfg.input(0).min_side() || side > cfg.input(0).max_side())) {
      return v.Error(
          p.center_crop() > 0 ? "input_preprocessing.center_crop" : "input_preprocessing.resize_shorter_side",
          absl::StrCat(side, " is outside input[0] [min_side, max_side] = [", cfg.input(0).min_side(), ", ",
                       cfg.input(0).max_side(), "]"));
    }
  } else if ((p.resize_shorter_side() > 0) != (p.center_crop() > 0)) {
    // Two pipelines only: resize straight to H x W, or torchvision's Resize(R) + CenterCrop(S).
    return v.Error(p.center_crop() > 0 ? "input_preprocessing.center_crop" : "input_preprocessing.resize_shorter_side",
                   "resize_shorter_side and center_crop are set together (resize the shorter "
                   "side, then crop the center) or both left 0 (resize straight to H x W)");
  }
  if (p.center_crop() > 0) {
    if (!variable && (p.center_crop() != d[1] || p.center_crop() != d[2])) {
      return v.Error("input_preprocessing.center_crop",
                     absl::StrCat(p.center_crop(), " must equal input[0].dims H and W (", d[1], " x ", d[2], ")"));
    }
    if (p.resize_shorter_side() < p.center_crop()) {
      return v.Error("input_preprocessing.resize_shorter_side",
                     absl::StrCat(p.resize_shorter_side(), " must be >= center_crop ", p.center_crop()));
    }
  }
  if (p.interpolation().empty()) p.set_interpolation("bilinear");
  static const std::set<std::string> kInterpolations = {"bilinear", "bicubic", "area", "nearest"};
  if (kInterpolations.count(p.interpolation()) == 0) {
    return v.Error("input_preprocessing.interpolation",
                   absl::StrCat("must be one of bilinear, bicubic, area, nearest; got \"", p.interpolation(), "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateBatching(ModelConfig& cfg, const Validator& v) {
  if (cfg.max_batch_size() < 1 || cfg.max_batch_size() > kMaxBatchSizeLimit) {
    return v.Error("max_batch_size",
                   absl::StrCat("must be in [1, ", kMaxBatchSizeLimit,
                                "] (wtserve models always take a batch dimension), got ", cfg.max_batch_size()));
  }
  if (!cfg.has_dynamic_batching()) return absl::OkStatus();
  const config::DynamicBatching& b = cfg.dynamic_batching();
  std::set<int32_t> seen;
  for (int i = 0; i < b.preferred_batch_size_size(); ++i) {
    const int32_t size = b.preferred_batch_size(i);
    const std::string field = absl::StrCat("dynamic_batching.preferred_batch_size[", i, "]");
    if (size < 1 || size > cfg.max_batch_size()) {
      return v.Error(field, absl::StrCat("must be in [1, max_batch_size = ", cfg.max_batch_size(), "], got ", size));
    }
    if (!seen.insert(size).second) return v.Error(field, absl::StrCat(size, " is listed twice"));
  }
  if (b.max_queue_delay_microseconds() > kMaxQueueDelayMicros) {
    return v.Error(
        "dynamic_batching.max_queue_delay_microseconds",
        absl::StrCat("must be <= ", kMaxQueueDelayMicros, " (10 s), got ", b.max_queue_delay_microseconds()));
  }
  return absl::OkStatus();
}

absl::Status ValidateInstances(ModelConfig& cfg, const Validator& v) {
  if (cfg.instance_group_size() == 0) cfg.add_instance_group();
  int total = 0;
  for (int i = 0; i < cfg.instance_group_size(); ++i) {
    ModelInstanceGroup& g = *cfg.mutable_instance_group(i);
    const std::string field = absl::StrCat("instance_group[", i, "]");
    if (g.count() == 0) g.set_count(1);
    if (g.count() < 0) return v.Error(field + ".count", absl::StrCat("must be >= 1, got ", g.count()));
    total += g.count();
    if (total > kMaxInstances) {
      return v.Error(field + ".count", absl::StrCat("at most ", kMaxInstances, " instances per model in total"));
    }
    if (g.kind() == ModelInstanceGroup::KIND_GPU) {
      if (g.gpus().empty()) g.add_gpus(0);
      for (int j = 0; j < g.gpus_size(); ++j) {
        if (g.gpus(j) < 0) {
          return v.Error(absl::StrCat(field, ".gpus[", j, "]"), absl::StrCat("must be >= 0, got ", g.gpus(j)));
        }
      }
    } else if (!g.gpus().empty()) {
      return v.Error(field + ".gpus", "only allowed with kind KIND_GPU");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOptimization(ModelConfig& cfg, const Validator& v) {
  config::ModelOptimizationPolicy& o = *cfg.mutable_optimization();
  if (o.precision().empty()) o.set_precision("fp32");
  if (o.precision() != "fp32" && o.precision() != "fp16" && o.precision() != "bf16") {
    return v.Error("optimization.precision",
                   absl::StrCat("must be \"fp32\", \"fp16\" or \"bf16\", got \"", o.precision(), "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateWarmup(ModelConfig& cfg, const Validator& v) {
  if (cfg.model_warmup_size() == 0) cfg.add_model_warmup()->set_name("default");
  for (int i = 0; i < cfg.model_warmup_size(); ++i) {
    config::ModelWarmup& w = *cfg.mutable_model_warmup(i);
    const std::string field = absl::StrCat("model_warmup[", i, "]");
    if (w.name().empty()) w.set_name(absl::StrCat("warmup_", i));
    if (w.batch_size() == 0) w.set_batch_size(1);
    if (w.count() == 0) w.set_count(1);
    if (w.batch_size() < 1 || w.batch_size() > cfg.max_batch_size()) {
      return v.Error(field + ".batch_size",
                     absl::StrCat("must be in [1, max_batch_size = ", cfg.max_batch_size(), "], got ", w.batch_size()));
    }
    if (w.count() < 1 || w.count() > kMaxWarmupCount) {
      return v.Error(field + ".count", absl::StrCat("must be in [1, ", kMaxWarmupCount, "], got ", w.count()));
    }
    const config::ModelInput& in = cfg.input(0);
    if (w.dims().empty()) {
      // Variable-size inputs get [C, min_side, min_side] once the loader knows min_side.
      if (!HasVariableSpatialDims(in)) *w.mutable_dims() = in.dims();
      continue;
    }
    if (w.dims_size() != 3 || w.dims(0) != in.dims(0)) {
      return v.Error(field + ".dims",
                     absl::StrCat("expected [C, H, W] with C = ", in.dims(0), ", got ", DimsString(w.dims())));
    }
    if (absl::Status s = CheckSpatialSize(in, w.dims(1), w.dims(2)); !s.ok()) {
      return v.Error(field + ".dims", s.message());
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateVersionPolicy(ModelConfig& cfg, const Validator& v) {
  config::ModelVersionPolicy& p = *cfg.mutable_version_policy();
  switch (p.policy_choice_case()) {
    case config::ModelVersionPolicy::POLICY_CHOICE_NOT_SET: p.mutable_latest()->set_num_versions(1); break;
    case config::ModelVersionPolicy::kLatest:
      if (p.latest().num_versions() == 0) p.mutable_latest()->set_num_versions(1);
      break;
    case config::ModelVersionPolicy::kAll: break;
    case config::ModelVersionPolicy::kSpecific: {
      if (p.specific().versions().empty()) {
        return v.Error("version_policy.specific.versions", "must list at least one version");
      }
      std::set<int64_t> seen;
      for (int i = 0; i < p.specific().versions_size(); ++i) {
        const int64_t version = p.specific().versions(i);
        const std::string field = absl::StrCat("version_policy.specific.versions[", i, "]");
        if (version < 1) return v.Error(field, absl::StrCat("must be >= 1, got ", version));
        if (!seen.insert(version).second) {
          return v.Error(field, absl::StrCat(version, " is listed twice"));
        }
      }
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool HasVariableSpatialDims(const config::ModelInput& input) {
  return input.dims_size() == 3 && input.dims(1) == -1 && input.dims(2) == -1;
}

absl::Status CheckSpatialSize(const config::ModelInput& input, int64_t height, int64_t width) {
  if (input.dims_size() != 3) {
    return absl::InvalidArgumentError("input dims must be [C, H, W] (validate the config first)");
  }
  if (!HasVariableSpatialDims(input)) {
    if (height == input.dims(1) && width == input.dims(2)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("H x W = ", height, " x ", width, " does not match the model's ",
                                                   input.dims(1), " x ", input.dims(2)));
  }
  const int64_t low = std::max<int64_t>(1, input.min_side());
  const int64_t high = input.max_side();
  if (height >= low && height <= high && width >= low && width <= high) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "H x W = ", height, " x ", width, " is outside the model's bounds: each side in [", low, ", ", high, "]"));
}

absl::StatusOr<ModelConfig> ParseModelConfigText(std::string_view text, const std::string& path) {
  ModelConfig cfg;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &cfg)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a valid ModelConfig in protobuf text format: ", errors.errors()));
  }
  return cfg;
}

absl::Status ValidateModelConfig(ModelConfig& cfg, const std::string& path, std::string_view expected_name) {
  const Validator v(path);
  if (cfg.name().empty() && !expected_name.empty()) cfg.set_name(std::string(expected_name));
  if (cfg.name().empty()) return v.Error("name", "must not be empty");
  if (!IsSafePathComponent(cfg.name())) {
    return v.Error("name", absl::StrCat("\"", cfg.name(), "\" is not a valid model name"));
  }
  if (!expected_name.empty() && cfg.name() != expected_name) {
    return v.Error("name", absl::StrCat("\"", cfg.name(), "\" must equal the model folder name \"",
                                        std::string(expected_name), "\""));
  }
  for (auto* step : {ValidateInput, ValidateOutput, ValidatePlatform, ValidatePreprocessing, ValidateBatching,
                     ValidateInstances, ValidateOptimization, ValidateWarmup, ValidateVersionPolicy}) {
    if (absl::Status s = step(cfg, v); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ReadModelConfig(const std::string& model_dir) {
  std::string dir = model_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string path = absl::StrCat(dir, "/", kConfigFileName);
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open the model config"));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  absl::StatusOr<ModelConfig> cfg = ParseModelConfigText(text.str(), path);
  if (!cfg.ok()) return cfg.status();
  const size_t slash = dir.find_last_of('/');
  const std::string folder = slash == std::string::npos ? dir : dir.substr(slash + 1);
  if (absl::Status s = ValidateModelConfig(*cfg, path, folder); !s.ok()) return s;
  return cfg;
}

absl::StatusOr<std::vector<int64_t>> SelectVersions(const config::ModelVersionPolicy& policy,
                                                    std::vector<int64_t> available) {
  std::sort(available.begin(), available.end());
  available.erase(std::unique(available.begin(), available.end()), available.end());
  std::vector<int64_t> chosen;
  switch (policy.policy_choice_case()) {
    case config::ModelVersionPolicy::kAll: chosen = available; break;
    case config::ModelVersionPolicy::kSpecific: {
      std::vector<int64_t> missing;
      for (int64_t version : policy.specific().versions()) {
        if (std::binary_search(available.begin(), available.end(), version)) {
          chosen.push_back(version);
        } else {
          missing.push_back(version);
        }
      }
      if (!missing.empty()) {
        return absl::NotFoundError(
            absl::StrCat("version_policy.specific: version folder(s) ", absl::StrJoin(missing, ", "), " not found"));
      }
      std::sort(chosen.begin(), chosen.end());
      break;
    }
    case config::ModelVersionPolicy::kLatest:
    case config::ModelVersionPolicy::POLICY_CHOICE_NOT_SET: {
      const size_t n = std::max<uint32_t>(1, policy.latest().num_versions());
      const size_t begin = available.size() > n ? available.size() - n : 0;
      chosen.assign(available.begin() + begin, available.end());
      break;
    }
  }
  if (chosen.empty()) {
    return absl::NotFoundError("no numeric version folder (e.g. 1/) with a model file was found");
  }
  return chosen;
}

std::string_view WireDataType(config::DataType type) {
  switch (type) {
    case config::TYPE_UINT8: return "UINT8";
    case config::TYPE_FP16: return "FP16";
    case config::TYPE_FP32: return "FP32";
    case config::TYPE_STRING: return "BYTES";
    case config::TYPE_BF16: return "BF16";
    default: return "INVALID";
  }
}

bool IsSafePathComponent(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return name.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

}  // namespace wtserve::runtime
