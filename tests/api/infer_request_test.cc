#include "server/api/infer_request.h"

#include <cstring>
#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "server/runtime/model_config.h"

namespace wtserve::api {
namespace {

using inference::ModelInferRequest;
using ::testing::HasSubstr;

config::ModelConfig Config() {
  auto cfg = runtime::ParseModelConfigText(R"pb(
                                             name: "m"
                                             architecture { name: "a" }
                                             max_batch_size: 4
                                             input {
                                               name: "images"
                                               data_type: TYPE_FP32
                                               dims: [ 1, 2, 2 ]
                                             }
                                             output {
                                               name: "logits"
                                               data_type: TYPE_FP32
                                               dims: [ 3 ]
                                             }
                                             input_preprocessing { mean: 0.5 std: 0.25 })pb",
                                           "test");
  EXPECT_TRUE(cfg.ok());
  EXPECT_TRUE(runtime::ValidateModelConfig(*cfg, "test", "m").ok());
  return *cfg;
}

ModelInferRequest Fp32Request(int64_t n, bool raw = true) {
  ModelInferRequest r;
  r.set_model_name("m");
  r.set_id("req-1");
  auto* in = r.add_inputs();
  in->set_name("images");
  in->set_datatype("FP32");
  for (int64_t d : {n, int64_t{1}, int64_t{2}, int64_t{2}}) in->add_shape(d);
  std::vector<float> values(static_cast<size_t>(n * 4));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) / 8.0f;
  if (raw) {
    r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  } else {
    for (float v : values) in->mutable_contents()->add_fp32_contents(v);
  }
  return r;
}

std::string PngOf(uint8_t value) {
  cv::Mat image(2, 2, CV_8UC1, cv::Scalar(value));
  std::vector<uchar> buffer;
  EXPECT_TRUE(cv::imencode(".png", image, buffer));
  return std::string(buffer.begin(), buffer.end());
}

std::string ErrorOf(const ModelInferRequest& r) {
  auto decoded = DecodeInferRequest(r, Config());
  if (decoded.ok()) return "";
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(decoded.status().message());
}

TEST(InferRequest, RawAndTypedFp32DecodeToTheSameNormalizedImages) {
  auto raw = DecodeInferRequest(Fp32Request(2, true), Config());
  auto typed = DecodeInferRequest(Fp32Request(2, false), Config());
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_EQ(raw->images.sizes(), at::IntArrayRef({2, 1, 2, 2}));
  EXPECT_TRUE(at::equal(raw->images, typed->images));
  EXPECT_FLOAT_EQ(raw->images.view(-1)[4].item<float>(), (4 / 8.0f - 0.5f) / 0.25f);
  ASSERT_EQ(raw->outputs.size(), 1u);  // logits by default
  EXPECT_EQ(raw->outputs[0].name, "logits");
  EXPECT_EQ(raw->outputs[0].classification, 0);
  EXPECT_FALSE(raw->queue_timeout.has_value());
}

TEST(InferRequest, Uint8EqualsScaledFp32) {
  ModelInferRequest u8 = Fp32Request(1);
  u8.mutable_inputs(0)->set_datatype("UINT8");
  const std::string pixels = {char(0), char(17), char(128), char(255)};
  u8.set_raw_input_contents(0, pixels);
  ModelInferRequest fp32 = Fp32Request(1);
  std::vector<float> scaled;
  for (char p : pixels) scaled.push_back(static_cast<float>(static_cast<uint8_t>(p)) * (1.0f / 255.0f));
  fp32.set_raw_input_contents(0, std::string(reinterpret_cast<const char*>(scaled.data()), 16));
  auto a = DecodeInferRequest(u8, Config());
  auto b = DecodeInferRequest(fp32, Config());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(at::equal(a->images, b->images));
  // Typed UINT8 uses uint_contents.
  ModelInferRequest typed = Fp32Request(1);
  typed.clear_raw_input_contents();
  typed.mutable_inputs(0)->set_datatype("UINT8");
  for (char p : pixels) typed.mutable_inputs(0)->mutable_contents()->add_uint_contents(uint8_t(p));
  auto c = DecodeInferRequest(typed, Config());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(at::equal(a->images, c->images));
}

TEST(InferRequest, BytesImagesRawAndTyped) {
  ModelInferRequest typed;
  typed.set_model_name("m");
  auto* in = typed.add_inputs();
  in->set_name("images");
  in->set_datatype("BYTES");
  in->add_shape(2);
  in->mutable_contents()->add_bytes_contents(PngOf(10));
  in->mutable_contents()->add_bytes_contents(PngOf(200));
  auto decoded = DecodeInferRequest(typed, Config());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FLOAT_EQ(decoded->images[1][0][1][1].item<float>(), (200.0f * (1.0f / 255.0f) - 0.5f) / 0.25f);

  ModelInferRequest raw = typed;
  raw.mutable_inputs(0)->clear_contents();
  raw.mutable_inputs(0)->clear_shape();
  raw.mutable_inputs(0)->add_shape(2);
  raw.mutable_inputs(0)->add_shape(1);
  std::string blob;
  for (uint8_t v : {10, 200}) {
    const std::string png = PngOf(v);
    const uint32_t len = static_cast<uint32_t>(png.size());
    blob.append(reinterpret_cast<const char*>(&len), 4);
    blob += png;
  }
  raw.add_raw_input_contents(blob);
  auto from_raw = DecodeInferRequest(raw, Config());
  ASSERT_TRUE(from_raw.ok()) << from_raw.status();
  EXPECT_TRUE(at::equal(from_raw->images, decoded->images));

  raw.set_raw_input_contents(0, blob.substr(0, blob.size() - 3));
  EXPECT_THAT(ErrorOf(raw), HasSubstr("declares"));
  raw.set_raw_input_contents(0, blob + "xx");
  EXPECT_THAT(ErrorOf(raw), HasSubstr("truncated"));
  typed.mutable_inputs(0)->mutable_contents()->set_bytes_contents(1, "not a png");
  EXPECT_THAT(ErrorOf(typed), HasSubstr("input 'images' element 1: cannot decode"));
}

config::ModelConfig VariableConfig(const std::string& data_type) {
  auto cfg = runtime::ParseModelConfigText(
      "name: \"m\" architecture { name: \"a\" } max_batch_size: 4\n"
      "input { name: \"images\" data_type: " +
          data_type +
          " dims: [1, -1, -1] min_side: 2 max_side: 6 }\n"
          "output { name: \"logits\" data_type: TYPE_FP32 dims: [3] }",
      "test");
  EXPECT_TRUE(cfg.ok());
  EXPECT_TRUE(runtime::ValidateModelConfig(*cfg, "test", "m").ok());
  return *cfg;
}

ModelInferRequest Fp32OfSize(int64_t n, int64_t h, int64_t w) {
  ModelInferRequest r;
  r.set_model_name("m");
  auto* in = r.add_inputs();
  in->set_name("images");
  in->set_datatype("FP32");
  for (int64_t d : {n, int64_t{1}, h, w}) in->add_shape(d);
  const std::vector<float> values(static_cast<size_t>(n * h * w), 0.25f);
  r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return r;
}

TEST(InferRequest, VariableSpatialDimsTakeAnySizeWithinTheBounds) {
  const config::ModelConfig cfg = VariableConfig("TYPE_FP32");
  auto tall = DecodeInferRequest(Fp32OfSize(2, 6, 3), cfg);
  ASSERT_TRUE(tall.ok()) << tall.status();
  EXPECT_EQ(tall->images.sizes(), at::IntArrayRef({2, 1, 6, 3}));
  auto small = DecodeInferRequest(Fp32OfSize(1, 2, 2), cfg);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->images.sizes(), at::IntArrayRef({1, 1, 2, 2}));

  auto too_big = DecodeInferRequest(Fp32OfSize(1, 7, 3), cfg);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_big.status().message(), HasSubstr("input 'images': shape [1, 1, 7, 3]: H x W = 7 x 3 is outside the "
                                                    "model's bounds: each side in [2, 6]"));
  EXPECT_FALSE(DecodeInferRequest(Fp32OfSize(1, 1, 3), cfg).ok());
  // The byte count follows the request's own H x W.
  ModelInferRequest short_data = Fp32OfSize(1, 4, 4);
  short_data.set_raw_input_contents(0, short_data.raw_input_contents(0).substr(4));
  auto mismatch = DecodeInferRequest(short_data, cfg);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(mismatch.status().message(), HasSubstr("raw content has 60 bytes"));

  // Encoded images: each at its own size, so one request's images must agree.
  const config::ModelConfig bytes_cfg = VariableConfig("TYPE_STRING");
  ModelInferRequest images;
  images.set_model_name("m");
  auto* in = images.add_inputs();
  in->set_name("images");
  in->set_datatype("BYTES");
  in->add_shape(2);
  for (int cols : {4, 4}) {
    cv::Mat image(3, cols, CV_8UC1, cv::Scalar(7));
    std::vector<uchar> buffer;
    ASSERT_TRUE(cv::imencode(".png", image, buffer));
    in->mutable_contents()->add_bytes_contents(std::string(buffer.begin(), buffer.end()));
  }
  auto same = DecodeInferRequest(images, bytes_cfg);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->images.sizes(), at::IntArrayRef({2, 1, 3, 4}));
  cv::Mat wider(3, 5, CV_8UC1, cv::Scalar(7));
  std::vector<uchar> buffer;
  ASSERT_TRUE(cv::imencode(".png", wider, buffer));
  in->mutable_contents()->set_bytes_contents(1, std::string(buffer.begin(), buffer.end()));
  auto differ = DecodeInferRequest(images, bytes_cfg);
  ASSERT_FALSE(differ.ok());
  EXPECT_THAT(differ.status().message(), HasSubstr("element 1 is 5x3 pixels after preprocessing, element 0 is 4x3"));
}

TEST(InferRequest, MalformedRequestsSayWhatIsWrong) {
  struct Case {
    std::function<void(ModelInferRequest&)> mutate;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](auto& r) {
         r.clear_inputs();
         r.clear_raw_input_contents();
       },
       "missing input 'images'"},
      {[](auto& r) { *r.add_inputs() = r.inputs(0); }, "takes 1 input ('images'), got 2"},
      {[](auto& r) { r.mutable_inputs(0)->set_name("x"); }, "unknown input 'x'; model 'm' has input 'images'"},
      {[](auto& r) { r.mutable_inputs(0)->set_datatype("INT64"); }, "datatype 'INT64' is not supported"},
      {[](auto& r) { r.mutable_inputs(0)->set_shape(0, 5); }, "batch size 5 must be in [1, max_batch_size = 4]"},
      {[](auto& r) { r.mutable_inputs(0)->set_shape(0, 0); }, "batch size 0"},
      {[](auto& r) { r.mutable_inputs(0)->clear_shape(); }, "shape is empty"},
      {[](auto& r) { r.mutable_inputs(0)->set_shape(2, 3); }, "shape [1, 1, 3, 2] does not match [N, 1, 2, 2]"},
      {[](auto& r) { r.mutable_inputs(0)->mutable_shape()->RemoveLast(); }, "does not match"},
      {[](auto& r) { r.set_raw_input_contents(0, std::string(15, '\0')); },
       "raw content has 15 bytes, FP32 [1, 1, 2, 2] needs 16"},
      {[](auto& r) { r.add_raw_input_contents("x"); }, "raw_input_contents has 2 entries for 1 input(s)"},
      {[](auto& r) { r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1); },
       "sets contents while raw_input_contents is used"},
      {[](auto& r) {
         float nan = std::nanf("");
         std::string s(16, '\0');
         std::memcpy(&s[0], &nan, 4);
         r.set_raw_input_contents(0, s);
       },
       "must be finite"},
      {[](auto& r) { r.add_outputs()->set_name("probs"); }, "unknown output 'probs'; model 'm' has output 'logits'"},
      {[](auto& r) {
         auto* o = r.add_outputs();
         o->set_name("logits");
         (*o->mutable_parameters())["classification"].set_int64_param(4);
       },
       "'classification' must be in [1, 3]"},
      {[](auto& r) {
         auto* o = r.add_outputs();
         o->set_name("logits");
         (*o->mutable_parameters())["classification"].set_string_param("2");
       },
       "must be an int64 k"},
      {[](auto& r) {
         r.add_outputs()->set_name("logits");
         r.add_outputs()->set_name("logits");
       },
       "requested twice"},
      // Also with different parameters (Triton: "output already exists in request").
      {[](auto& r) {
         r.add_outputs()->set_name("logits");
         auto* top = r.add_outputs();
         top->set_name("logits");
         (*top->mutable_parameters())["classification"].set_int64_param(2);
       },
       "output 'logits' is requested twice"},
      {[](auto& r) { (*r.mutable_inputs(0)->mutable_parameters())["shared_memory_region"].set_string_param("in0"); },
       "input 'images' uses shared memory region 'in0', which is not registered"},
      {[](auto& r) {
         auto* o = r.add_outputs();
         o->set_name("logits");
         (*o->mutable_parameters())["shared_memory_region"].set_string_param("out0");
       },
       "output 'logits' uses shared memory region 'out0', which is not registered"},
      {[](auto& r) { (*r.mutable_parameters())["timeout"].set_int64_param(-1); }, "'timeout' must be >= 0"},
      {[](auto& r) { (*r.mutable_parameters())["timeout"].set_string_param("1s"); }, "'timeout' must be an int64"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    ModelInferRequest r = Fp32Request(1);
    cases[i].mutate(r);
    EXPECT_THAT(ErrorOf(r), HasSubstr(cases[i].expected)) << "case " << i;
  }
  // Typed contents of the wrong size or field.
  ModelInferRequest typed = Fp32Request(1, false);
  typed.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0);
  EXPECT_THAT(ErrorOf(typed), HasSubstr("fp32_contents has 5 values, shape [1, 1, 2, 2] needs 4"));
  typed = Fp32Request(1, false);
  typed.mutable_inputs(0)->mutable_contents()->add_int_contents(0);
  EXPECT_THAT(ErrorOf(typed), HasSubstr("typed contents go in fp32_contents"));
  typed = Fp32Request(1, false);
  typed.mutable_inputs(0)->set_datatype("UINT8");
  typed.mutable_inputs(0)->mutable_contents()->clear_fp32_contents();
  for (int v : {1, 2, 3, 256}) typed.mutable_inputs(0)->mutable_contents()->add_uint_contents(v);
  EXPECT_THAT(ErrorOf(typed), HasSubstr("UINT8 value 256 at index 3 is out of range"));
}

TEST(InferRequest, TimeoutAndClassificationParameters) {
  ModelInferRequest r = Fp32Request(1);
  (*r.mutable_parameters())["timeout"].set_int64_param(1500);
  (*r.mutable_parameters())["priority"].set_int64_param(1);
  auto* o = r.add_outputs();
  o->set_name("logits");
  (*o->mutable_parameters())["classification"].set_int64_param(2);
  auto decoded = DecodeInferRequest(r, Config());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->queue_timeout, absl::Microseconds(1500));
  ASSERT_EQ(decoded->outputs.size(), 1u);
  EXPECT_EQ(decoded->outputs[0].classification, 2);
  r.clear_outputs();
  r.add_outputs()->set_name("logits");
  decoded = DecodeInferRequest(r, Config());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->outputs[0].classification, 0);
}

TEST(InferRequest, EncodeLogitsAndTopK) {
  ModelInferRequest r = Fp32Request(2);
  r.set_model_version("");
  const std::vector<float> values = {0.5f, 2.0f, -1.0f, 3.0f, 1.0f, 2.5f};
  const at::Tensor logits = at::from_blob(const_cast<float*>(values.data()), {2, 3}, at::kFloat);
  inference::ModelInferResponse response;
  EncodeInferResponse(r, "7", {"cat", "dog", "bird"}, {{"logits", 0}, {"logits", 2}}, logits, &response);
  EXPECT_EQ(response.model_name(), "m");
  EXPECT_EQ(response.model_version(), "7");
  EXPECT_EQ(response.id(), "req-1");
  ASSERT_EQ(response.outputs_size(), 2);
  ASSERT_EQ(response.raw_output_contents_size(), 2);
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(2, 3));
  EXPECT_EQ(response.raw_output_contents(0), std::string(reinterpret_cast<const char*>(values.data()), 24));
  EXPECT_EQ(response.outputs(1).datatype(), "BYTES");
  EXPECT_THAT(response.outputs(1).shape(), ::testing::ElementsAre(2, 2));
  // Parse the BYTES elements back.
  std::vector<std::string> elements;
  const std::string& raw = response.raw_output_contents(1);
  for (size_t pos = 0; pos < raw.size();) {
    uint32_t len;
    std::memcpy(&len, raw.data() + pos, 4);
    elements.push_back(raw.substr(pos + 4, len));
    pos += 4 + len;
  }
  EXPECT_THAT(elements,
              ::testing::ElementsAre("2.000000:1:dog", "0.500000:0:cat", "3.000000:0:cat", "2.500000:2:bird"));
  // Without labels: "score:index".
  inference::ModelInferResponse unlabeled;
  EncodeInferResponse(r, "7", {}, {{"logits", 1}}, logits, &unlabeled);
  EXPECT_EQ(unlabeled.raw_output_contents(0).substr(4, 10), "2.000000:1");
}

}  // namespace
}  // namespace wtserve::api
