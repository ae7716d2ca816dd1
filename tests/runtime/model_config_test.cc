#include "server/runtime/model_config.h"

#include "google/protobuf/text_format.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wtserve::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kMinimal[] = R"pb(
  name: "m"
  architecture { name: "convnext_fmnist" }
  max_batch_size: 8
  input {
    name: "images"
    data_type: TYPE_FP32
    dims: [ 1, 28, 28 ]
  }
  output {
    name: "logits"
    data_type: TYPE_FP32
    dims: [ 10 ]
  }
)pb";

config::ModelConfig Parse(const std::string& text) {
  auto cfg = ParseModelConfigText(text, "m/config.pbtxt");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  return cfg.ok() ? *cfg : config::ModelConfig();
}

// Validates `base` with `extra` merged over it (scalars replaced, messages merged, repeated
// fields appended) and returns the error message ("" when valid).
std::string ErrorOf(const std::string& extra, const std::string& base = kMinimal) {
  config::ModelConfig cfg = Parse(base);
  EXPECT_TRUE(google::protobuf::TextFormat::MergeFromString(extra, &cfg)) << extra;
  absl::Status s = ValidateModelConfig(cfg, "m/config.pbtxt", "m");
  return s.ok() ? "" : std::string(s.message());
}

TEST(ModelConfig, FillsDefaults) {
  config::ModelConfig cfg = Parse(kMinimal);
  ASSERT_TRUE(ValidateModelConfig(cfg, "m/config.pbtxt", "m").ok());
  EXPECT_EQ(cfg.platform(), kPlatformArchitecture);
  EXPECT_EQ(cfg.default_model_filename(), "model.pt");
  EXPECT_EQ(cfg.architecture().in_chans(), 1);
  EXPECT_EQ(cfg.architecture().num_classes(), 10);
  EXPECT_EQ(cfg.architecture().width_mult(), 1.0);
  EXPECT_EQ(cfg.output(0).label_filename(), "labels.txt");
  EXPECT_FLOAT_EQ(cfg.input_preprocessing().scale(), 1.0f / 255.0f);
  EXPECT_THAT(cfg.input_preprocessing().mean(), ElementsAre(0.0f));
  EXPECT_THAT(cfg.input_preprocessing().std(), ElementsAre(1.0f));
  EXPECT_EQ(cfg.input_preprocessing().interpolation(), "bilinear");
  ASSERT_EQ(cfg.instance_group_size(), 1);
  EXPECT_EQ(cfg.instance_group(0).count(), 1);
  EXPECT_EQ(cfg.instance_group(0).kind(), config::ModelInstanceGroup::KIND_AUTO);
  EXPECT_EQ(cfg.optimization().precision(), "fp32");
  ASSERT_EQ(cfg.model_warmup_size(), 1);
  EXPECT_EQ(cfg.model_warmup(0).batch_size(), 1);
  EXPECT_EQ(cfg.model_warmup(0).count(), 1);
  EXPECT_EQ(cfg.version_policy().latest().num_versions(), 1u);
  EXPECT_FALSE(cfg.has_dynamic_batching());
}

TEST(ModelConfig, BroadcastsMeanAndStdToChannels) {
  const std::string rgb = R"pb(
    name: "m"
    architecture { name: "a" }
    max_batch_size: 4
    input {
      name: "x"
      data_type: TYPE_UINT8
      dims: [ 3, 32, 32 ]
    }
    output {
      name: "y"
      data_type: TYPE_FP32
      dims: [ 5 ]
    }
    input_preprocessing {
      mean: 0.5
      std: [ 0.1, 0.2, 0.3 ]
    }
  )pb";
  config::ModelConfig cfg = Parse(rgb);
  ASSERT_TRUE(ValidateModelConfig(cfg, "m/config.pbtxt", "m").ok());
  EXPECT_THAT(cfg.input_preprocessing().mean(), ElementsAre(0.5f, 0.5f, 0.5f));
  EXPECT_THAT(cfg.input_preprocessing().std(), ElementsAre(0.1f, 0.2f, 0.3f));
  // Merged over the 0.5 above, this makes two values.
  EXPECT_THAT(ErrorOf("input_preprocessing { mean: 0.1 }", rgb),
              HasSubstr("input_preprocessing.mean: expected 1 or 3 values (one per channel), got 2"));
}

TEST(ModelConfig, SyntaxErrorNamesFileAndPosition) {
  auto cfg = ParseModelConfigText("name: \"m\"\nmax_batch_size: \"eight\"\n", "repo/m/config.pbtxt");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cfg.status().message(), HasSubstr("repo/m/config.pbtxt"));
  EXPECT_THAT(cfg.status().message(), HasSubstr("2:"));
  auto unknown = ParseModelConfigText("nme: \"m\"", "c.pbtxt");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("nme"));
}

TEST(ModelConfig, EachBadFieldIsNamed) {
  struct Case {
    std::string extra;
    std::string base;
    std::string expected;
  };
  const std::string no_arch = R"pb(
    name: "m"
    max_batch_size: 8
    input {
      name: "images"
      data_type: TYPE_FP32
      dims: [ 1, 28, 28 ]
    }
    output {
      name: "logits"
      data_type: TYPE_FP32
      dims: [ 10 ]
    })pb";
  const std::string no_output = R"pb(
    name: "m"
    max_batch_size: 8
    architecture { name: "a" }
    input {
      name: "images"
      data_type: TYPE_FP32
      dims: [ 1, 28, 28 ]
    })pb";
  const std::vector<Case> cases = {
      {"name: \"other\"", kMinimal, "m/config.pbtxt: name: \"other\" must equal the model folder"},
      {"", no_arch, "platform: must be"},
      {"platform: \"wtserve_architecture\"", no_arch, "architecture: required"},
      {"platform: \"onnx\"", no_arch, "platform: must be"},
      {"platform: \"pytorch_libtorch\"", kMinimal, "architecture: must not be set"},
      {"architecture { name: \"\" }", kMinimal, "architecture.name"},
      {"architecture { in_chans: 3 }", kMinimal, "architecture.in_chans: 3 does not match"},
      {"architecture { num_classes: 7 }", kMinimal, "architecture.num_classes: 7 does not match"},
      {"architecture { width_mult: -1 }", kMinimal, "architecture.width_mult"},
      {"architecture { checkpoint_entry: \"state dict\" }", kMinimal, "architecture.checkpoint_entry"},
      {"default_model_filename: \"../x.pt\"", kMinimal, "default_model_filename"},
      {"max_batch_size: 0", kMinimal, "max_batch_size: must be in [1, 4096]"},
      {"input { name: \"b\" data_type: TYPE_FP32 dims: [1, 2, 2] }", kMinimal, "input: exactly one input"},
      {"output { name: \"b\" data_type: TYPE_FP32 dims: [3] }", kMinimal, "output: exactly one output"},
      {"output { name: \"y\" data_type: TYPE_FP32 dims: [10] label_filename: \"/etc/passwd\" }", no_output,
       "output[0].label_filename"},
      {"input_preprocessing { scale: -1 }", kMinimal, "input_preprocessing.scale"},
      {"input_preprocessing { std: 0 }", kMinimal, "input_preprocessing.std[0]: must be finite and > 0"},
      {"input_preprocessing { interpolation: \"lanczos\" }", kMinimal, "input_preprocessing.interpolation"},
      {"input_preprocessing { center_crop: 28 }", kMinimal, "input_preprocessing.center_crop"},
      {"input_preprocessing { resize_shorter_side: 32 center_crop: 24 }", kMinimal,
       "center_crop: 24 must equal input[0].dims H and W"},
      {"input_preprocessing { resize_shorter_side: 20 center_crop: 28 }", kMinimal,
       "resize_shorter_side: 20 must be >= center_crop 28"},
      {"dynamic_batching { preferred_batch_size: [4, 16] }", kMinimal,
       "dynamic_batching.preferred_batch_size[1]: must be in [1, max_batch_size = 8], got 16"},
      {"dynamic_batching { preferred_batch_size: [4, 4] }", kMinimal, "listed twice"},
      {"dynamic_batching { max_queue_delay_microseconds: 100000000 }", kMinimal, "max_queue_delay_microseconds"},
      {"instance_group { count: -2 }", kMinimal, "instance_group[0].count: must be >= 1"},
      {"instance_group { count: 100 }", kMinimal, "instance_group[0].count: at most 64"},
      {"instance_group { kind: KIND_CPU gpus: 0 }", kMinimal, "instance_group[0].gpus"},
      {"instance_group { kind: KIND_GPU gpus: -1 }", kMinimal, "instance_group[0].gpus[0]"},
      {"optimization { precision: \"int8\" }", kMinimal, "optimization.precision"},
      {"model_warmup { batch_size: 9 }", kMinimal, "model_warmup[0].batch_size"},
      {"model_warmup { count: -1 }", kMinimal, "model_warmup[0].count"},
      {"version_policy { specific { } }", kMinimal, "version_policy.specific.versions: must list"},
      {"version_policy { specific { versions: [0] } }", kMinimal, "version_policy.specific.versions[0]: must be >= 1"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ErrorOf(c.extra, c.base), HasSubstr(c.expected)) << "config extra: " << c.extra;
  }
}

TEST(ModelConfig, InputShapesAndTypes) {
  const std::string base = R"pb(
    name: "m"
    architecture { name: "a" }
    max_batch_size: 2
    output {
      name: "y"
      data_type: TYPE_FP32
      dims: [ 3 ]
    })pb";
  EXPECT_EQ(ErrorOf("input { name: \"x\" data_type: TYPE_STRING dims: [3, 64, 48] }", base), "");
  EXPECT_THAT(ErrorOf("input { name: \"x\" data_type: TYPE_FP32 dims: [2, 28, 28] }", base),
              HasSubstr("input[0].dims: expected [C, H, W] with C in {1, 3}"));
  EXPECT_THAT(ErrorOf("input { name: \"x\" data_type: TYPE_FP32 dims: [28, 28] }", base), HasSubstr("got [28, 28]"));
  EXPECT_THAT(ErrorOf("input { name: \"x\" data_type: TYPE_FP16 dims: [1, 28, 28] }", base),
              HasSubstr("input[0].data_type: must be TYPE_FP32, TYPE_UINT8 or TYPE_STRING"));
  EXPECT_THAT(ErrorOf("input { data_type: TYPE_FP32 dims: [1, 28, 28] }", base),
              HasSubstr("input[0].name: must not be empty"));
  EXPECT_THAT(ErrorOf("input { name: \"x\" data_type: TYPE_FP32 dims: [1, 28, 28] }\n"
                      "output { name: \"y\" data_type: TYPE_UINT8 dims: [3] }",
                      R"pb(name: "m"
                           architecture { name: "a" }
                           max_batch_size: 2)pb"),
              HasSubstr("output[0].data_type: must be TYPE_FP32"));
}

TEST(ModelConfig, VariableSpatialDims) {
  const std::string base = R"pb(
    name: "m"
    architecture { name: "a" }
    max_batch_size: 2
    output {
      name: "y"
      data_type: TYPE_FP32
      dims: [ 3 ]
    })pb";
  const std::string variable = "input { name: \"x\" data_type: TYPE_FP32 dims: [3, -1, -1] ";
  EXPECT_EQ(ErrorOf(variable + "}", base), "");
  EXPECT_EQ(ErrorOf(variable + "min_side: 32 max_side: 512 }", base), "");
  EXPECT_THAT(ErrorOf("input { name: \"x\" data_type: TYPE_FP32 dims: [3, -1, 224] }", base),
              HasSubstr("or [C, -1, -1] for any size; got [3, -1, 224]"));
  EXPECT_THAT(ErrorOf("input { name: \"x\" data_type: TYPE_FP32 dims: [3, 224, 224] min_side: 8 }", base),
              HasSubstr("input[0].min_side: applies only to dims [C, -1, -1]"));
  EXPECT_THAT(ErrorOf(variable + "max_side: 9000 }", base),
              HasSubstr("input[0].max_side: must be in [1, 8192], got 9000"));
  EXPECT_THAT(ErrorOf(variable + "min_side: 64 max_side: 32 }", base),
              HasSubstr("input[0].min_side: must be in [0, max_side = 32], got 64"));
  // Encoded images: kept as they come, shorter side resized, or resized and cropped, always
  // within the bounds.
  EXPECT_EQ(ErrorOf(variable + "} input_preprocessing { resize_shorter_side: 256 }", base), "");
  EXPECT_EQ(ErrorOf(variable + "} input_preprocessing { resize_shorter_side: 256 center_crop: 224 }", base), "");
  EXPECT_THAT(ErrorOf(variable + "} input_preprocessing { center_crop: 224 }", base),
              HasSubstr("center_crop: needs resize_shorter_side"));
  EXPECT_THAT(ErrorOf(variable + "max_side: 200 } input_preprocessing { resize_shorter_side: 256 }", base),
              HasSubstr("resize_shorter_side: 256 is outside input[0] [min_side, max_side] = [0, 200]"));
  // Warmups: dims of their own, within the bounds; a fixed-size input fills them in.
  EXPECT_EQ(ErrorOf(variable + "} model_warmup { dims: [3, 96, 96] } model_warmup { dims: [3, 224, 200] }", base), "");
  EXPECT_THAT(ErrorOf(variable + "max_side: 128 } model_warmup { dims: [3, 224, 224] }", base),
              HasSubstr("model_warmup[0].dims: H x W = 224 x 224 is outside the model's bounds: "
                        "each side in [1, 128]"));
  EXPECT_THAT(ErrorOf(variable + "} model_warmup { dims: [1, 96, 96] }", base),
              HasSubstr("model_warmup[0].dims: expected [C, H, W] with C = 3, got [1, 96, 96]"));
  EXPECT_THAT(ErrorOf("input { name: \"x\" data_type: TYPE_FP32 dims: [3, 32, 32] } "
                      "model_warmup { dims: [3, 64, 64] }",
                      base),
              HasSubstr("H x W = 64 x 64 does not match the model's 32 x 32"));
  config::ModelConfig cfg =
      *ParseModelConfigText(base + "\ninput { name: \"x\" data_type: TYPE_FP32 dims: [3, 32, 32] }", "m/config.pbtxt");
  ASSERT_TRUE(ValidateModelConfig(cfg, "m/config.pbtxt").ok());
  EXPECT_THAT(cfg.model_warmup(0).dims(), ElementsAre(3, 32, 32));
  cfg = *ParseModelConfigText(base + "\n" + variable + "}", "m/config.pbtxt");
  ASSERT_TRUE(ValidateModelConfig(cfg, "m/config.pbtxt").ok());
  EXPECT_EQ(cfg.input(0).max_side(), 1024);
  EXPECT_EQ(cfg.input(0).min_side(), 0);  // found by the loader
  EXPECT_TRUE(cfg.model_warmup(0).dims().empty());
}

TEST(ModelConfig, CheckSpatialSize) {
  config::ModelInput fixed;
  for (int64_t d : {3, 224, 200}) fixed.add_dims(d);
  EXPECT_TRUE(CheckSpatialSize(fixed, 224, 200).ok());
  EXPECT_THAT(CheckSpatialSize(fixed, 200, 224).message(),
              HasSubstr("H x W = 200 x 224 does not match the model's 224 x 200"));
  config::ModelInput variable;
  for (int64_t d : {3, -1, -1}) variable.add_dims(d);
  variable.set_min_side(32);
  variable.set_max_side(256);
  EXPECT_TRUE(HasVariableSpatialDims(variable));
  EXPECT_FALSE(HasVariableSpatialDims(fixed));
  EXPECT_TRUE(CheckSpatialSize(variable, 32, 256).ok());
  EXPECT_EQ(CheckSpatialSize(variable, 31, 100).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(CheckSpatialSize(variable, 100, 257).message(),
              HasSubstr("H x W = 100 x 257 is outside the model's bounds: each side in [32, 256]"));
}

TEST(ModelConfig, ReadModelConfigFromFolder) {
  const auto dir = std::filesystem::temp_directory_path() / ("wtserve_cfg_" + std::to_string(::getpid())) / "fmnist";
  std::filesystem::create_directories(dir);
  auto missing = ReadModelConfig(dir.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("fmnist/config.pbtxt"));
  {
    std::ofstream(dir / "config.pbtxt") << R"pb(
      architecture { name: "convnext_fmnist" }
      max_batch_size: 4
      input {
        name: "images"
        data_type: TYPE_UINT8
        dims: [ 1, 28, 28 ]
      }
      output {
        name: "logits"
        data_type: TYPE_FP32
        dims: [ 10 ]
      })pb";
  }
  auto cfg = ReadModelConfig(dir.string() + "/");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->name(), "fmnist");  // filled from the folder name
  std::filesystem::remove_all(dir.parent_path());
}

TEST(ModelConfig, SelectVersions) {
  config::ModelVersionPolicy latest;
  latest.mutable_latest()->set_num_versions(2);
  EXPECT_THAT(*SelectVersions(latest, {3, 1, 10, 2}), ElementsAre(3, 10));
  config::ModelVersionPolicy all;
  all.mutable_all();
  EXPECT_THAT(*SelectVersions(all, {2, 1}), ElementsAre(1, 2));
  config::ModelVersionPolicy specific;
  specific.mutable_specific()->add_versions(2);
  EXPECT_THAT(*SelectVersions(specific, {1, 2, 3}), ElementsAre(2));
  specific.mutable_specific()->add_versions(7);
  auto missing = SelectVersions(specific, {1, 2, 3});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("7"));
  EXPECT_EQ(SelectVersions(latest, {}).status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelConfig, SafePathComponent) {
  EXPECT_TRUE(IsSafePathComponent("convnext_fmnist"));
  EXPECT_TRUE(IsSafePathComponent("model.pt"));
  for (const char* bad : {"", ".", "..", "a/b", "../m", "a\\b", "/abs"}) {
    EXPECT_FALSE(IsSafePathComponent(bad)) << bad;
  }
  EXPECT_FALSE(IsSafePathComponent(std::string("a\0b", 3)));
  EXPECT_FALSE(IsSafePathComponent(std::string(256, 'a')));
}

TEST(ModelConfig, WireDataType) {
  EXPECT_EQ(WireDataType(config::TYPE_FP32), "FP32");
  EXPECT_EQ(WireDataType(config::TYPE_UINT8), "UINT8");
  EXPECT_EQ(WireDataType(config::TYPE_STRING), "BYTES");
}

}  // namespace
}  // namespace wtserve::runtime
