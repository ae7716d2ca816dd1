#include "server/http/rest_codec.h"

#include <cstring>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace wtserve::http {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string FloatBytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

std::string ErrorOf(const std::string& body, std::optional<size_t> json_length = std::nullopt) {
  absl::StatusOr<RestInferRequest> r = ParseRestInferRequest(body, json_length, "m", "");
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(RestCodec, JsonTensorsBecomeTypedContents) {
  const std::string body = R"({"id": "r1", "parameters": {"timeout": 5000, "note": "x", "flag": true},
    "inputs": [{"name": "images", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [[0.5, 1], [2, 3.25]]}],
    "outputs": [{"name": "logits", "parameters": {"classification": 2}}, {"name": "logits"}]})";
  absl::StatusOr<RestInferRequest> r = ParseRestInferRequest(body, std::nullopt, "m", "3");
  ASSERT_TRUE(r.ok()) << r.status();
  const inference::ModelInferRequest& req = r->request;
  EXPECT_EQ(req.model_name(), "m");
  EXPECT_EQ(req.model_version(), "3");
  EXPECT_EQ(req.id(), "r1");
  EXPECT_EQ(req.parameters().at("timeout").int64_param(), 5000);
  EXPECT_EQ(req.parameters().at("note").string_param(), "x");
  EXPECT_TRUE(req.parameters().at("flag").bool_param());
  ASSERT_EQ(req.inputs_size(), 1);
  EXPECT_THAT(req.inputs(0).shape(), ElementsAre(1, 1, 2, 2));
  EXPECT_THAT(req.inputs(0).contents().fp32_contents(), ElementsAre(0.5f, 1.0f, 2.0f, 3.25f));
  EXPECT_EQ(req.raw_input_contents_size(), 0);
  ASSERT_EQ(req.outputs_size(), 2);
  EXPECT_EQ(req.outputs(0).parameters().at("classification").int64_param(), 2);
  EXPECT_THAT(r->binary_outputs, ElementsAre(false, false));

  absl::StatusOr<RestInferRequest> u8 =
      ParseRestInferRequest(R"({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "UINT8", "data": [0, 255, 7]}]})",
                            std::nullopt, "m", "");
  ASSERT_TRUE(u8.ok()) << u8.status();
  EXPECT_THAT(u8->request.inputs(0).contents().uint_contents(), ElementsAre(0u, 255u, 7u));
}

TEST(RestCodec, BinaryExtensionSplitsTheBodyByTheHeaderLength) {
  const std::string header = R"({"inputs": [{"name": "images", "shape": [1, 1, 1, 2], "datatype": "FP32",
    "parameters": {"binary_data_size": 8}}], "parameters": {"binary_data_output": true}})";
  const std::string body = header + FloatBytes({1.5f, -2.0f});
  absl::StatusOr<RestInferRequest> r = ParseRestInferRequest(body, header.size(), "m", "");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->request.raw_input_contents_size(), 1);
  EXPECT_EQ(r->request.raw_input_contents(0), FloatBytes({1.5f, -2.0f}));
  EXPECT_TRUE(r->binary_by_default);
  EXPECT_EQ(r->request.parameters().count("binary_data_output"), 0u);  // consumed here
  EXPECT_EQ(r->request.inputs(0).parameters().count("binary_data_size"), 0u);

  EXPECT_THAT(ErrorOf(body, body.size() + 1), HasSubstr("Inference-Header-Content-Length is"));
  EXPECT_THAT(ErrorOf(body + "x", header.size()),
              HasSubstr("the body has 9 bytes after the JSON header but the inputs' binary_data_size add up to 8"));
  EXPECT_THAT(ErrorOf(header + "1234", header.size()), HasSubstr("binary_data_size 8 is more than the 4 bytes"));
}

TEST(RestCodec, MalformedRequestsSayWhatIsWrong) {
  EXPECT_THAT(ErrorOf("{not json"), HasSubstr("the inference request is not valid JSON"));
  EXPECT_THAT(ErrorOf("[]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(ErrorOf("{}"), HasSubstr("\"inputs\" must be an array"));
  EXPECT_THAT(ErrorOf(R"({"id": 7, "inputs": []})"), HasSubstr("\"id\" must be a string"));
  EXPECT_THAT(ErrorOf(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": ["a"]}]})"),
              HasSubstr("input 'x' data[0] is not a number"));
  EXPECT_THAT(ErrorOf(R"({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [-1]}]})"),
              HasSubstr("data[0] is not an integer in [0, 255]"));
  EXPECT_THAT(ErrorOf(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]})"),
              HasSubstr("has neither \"data\" nor parameters.binary_data_size"));
  EXPECT_THAT(ErrorOf(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1.5], "data": [1]}]})"),
              HasSubstr("inputs[0].shape must be an array of integers"));
  EXPECT_THAT(ErrorOf(R"({"inputs": [{"name": 1, "datatype": "FP32", "shape": [1], "data": [1]}]})"),
              HasSubstr("inputs[0].name must be a string"));
  EXPECT_THAT(ErrorOf(R"({"inputs": [], "parameters": {"p": [1]}})"),
              HasSubstr("parameters.p must be a boolean, number or string"));
  EXPECT_THAT(ErrorOf(R"({"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]})"),
              HasSubstr("outputs[0].parameters.binary_data must be true or false"));
  // Nesting is bounded, so a hostile body cannot recurse deeply.
  std::string deep(100, '[');
  deep += "1" + std::string(100, ']');
  EXPECT_THAT(ErrorOf(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": )" + deep + "}]}"),
              HasSubstr("nested deeper than 16 levels"));
}

inference::ModelInferResponse Response() {
  inference::ModelInferResponse r;
  r.set_model_name("m");
  r.set_model_version("1");
  r.set_id("r1");
  auto* logits = r.add_outputs();
  logits->set_name("logits");
  logits->set_datatype("FP32");
  logits->add_shape(1);
  logits->add_shape(3);
  r.add_raw_output_contents(FloatBytes({0.1f, -2.5f, 3.0f}));
  auto* top = r.add_outputs();
  top->set_name("logits");
  top->set_datatype("BYTES");
  top->add_shape(1);
  top->add_shape(1);
  const std::string element = "3.000000:2:bag";
  std::string raw(4, '\0');
  raw[0] = static_cast<char>(element.size());
  r.add_raw_output_contents(raw + element);
  return r;
}

TEST(RestCodec, ResponsesAsJsonOrBinary) {
  RestInferRequest as_json;
  as_json.binary_outputs = {false, false};
  RestBody json_body = EncodeRestInferResponse(Response(), as_json);
  EXPECT_FALSE(json_body.json_length.has_value());
  const json parsed = json::parse(json_body.body);
  EXPECT_EQ(parsed["model_name"], "m");
  EXPECT_EQ(parsed["id"], "r1");
  EXPECT_EQ(parsed["outputs"][0]["shape"], json({1, 3}));
  // Floats survive the round trip exactly.
  EXPECT_EQ(parsed["outputs"][0]["data"][0].get<float>(), 0.1f);
  EXPECT_EQ(parsed["outputs"][0]["data"][1].get<float>(), -2.5f);
  EXPECT_EQ(parsed["outputs"][1]["data"], json({"3.000000:2:bag"}));

  RestInferRequest mixed;
  mixed.binary_outputs = {true, false};
  RestBody binary = EncodeRestInferResponse(Response(), mixed);
  ASSERT_TRUE(binary.json_length.has_value());
  const json header = json::parse(binary.body.substr(0, *binary.json_length));
  EXPECT_EQ(header["outputs"][0]["parameters"]["binary_data_size"], 12);
  EXPECT_FALSE(header["outputs"][0].contains("data"));
  EXPECT_EQ(header["outputs"][1]["data"], json({"3.000000:2:bag"}));
  EXPECT_EQ(binary.body.substr(*binary.json_length), FloatBytes({0.1f, -2.5f, 3.0f}));

  // No outputs listed: the request's binary_data_output decides.
  RestInferRequest by_default;
  by_default.binary_by_default = true;
  inference::ModelInferResponse one = Response();
  one.mutable_outputs()->RemoveLast();
  one.mutable_raw_output_contents()->RemoveLast();
  EXPECT_TRUE(EncodeRestInferResponse(one, by_default).json_length.has_value());
}

TEST(RestCodec, OtherResponsesAndStatusCodes) {
  inference::ModelMetadataResponse metadata;
  metadata.set_name("m");
  metadata.add_versions("1");
  auto* input = metadata.add_inputs();
  input->set_name("images");
  input->set_datatype("FP32");
  for (int64_t d : {-1, 3, -1, -1}) input->add_shape(d);
  const json m = json::parse(ModelMetadataJson(metadata));
  EXPECT_EQ(m["inputs"][0]["shape"], json({-1, 3, -1, -1}));  // numbers, not strings
  EXPECT_EQ(m["versions"], json({"1"}));

  inference::ModelStatisticsResponse stats;
  auto* s = stats.add_model_stats();
  s->set_name("m");
  s->set_inference_count(12);
  s->mutable_inference_stats()->mutable_success()->set_ns(99);
  auto* b = s->add_batch_stats();
  b->set_batch_size(4);
  b->mutable_compute_infer()->set_count(3);
  const json st = json::parse(ModelStatisticsJson(stats));
  EXPECT_EQ(st["model_stats"][0]["inference_count"], 12);
  EXPECT_EQ(st["model_stats"][0]["inference_stats"]["success"]["ns"], 99);
  EXPECT_EQ(st["model_stats"][0]["batch_stats"][0]["compute_infer"]["count"], 3);

  EXPECT_EQ(json::parse(ErrorJson("bad \"x\""))["error"], "bad \"x\"");
  // Bytes that are not UTF-8 (a label file in Latin-1) do not break the JSON.
  EXPECT_TRUE(json::accept(ErrorJson("caf\xe9")));

  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnauthenticated), 401);

  EXPECT_EQ(*ReadyFlagOfIndexRequest(""), false);
  EXPECT_EQ(*ReadyFlagOfIndexRequest(R"({"ready": true})"), true);
  EXPECT_FALSE(ReadyFlagOfIndexRequest("[1]").ok());
  EXPECT_TRUE(LoadRequestParameters("").value().empty());
  EXPECT_TRUE(LoadRequestParameters("{}").value().empty());
  auto load = LoadRequestParameters(R"({"parameters": {"config": "{\"max_batch_size\": 4}", "flag": true}})");
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->at("config").string_param(), R"({"max_batch_size": 4})");
  EXPECT_TRUE(load->at("flag").bool_param());
  // A config given as an object is taken as its JSON text.
  EXPECT_EQ(json::parse(LoadRequestParameters(R"({"parameters": {"config": {"max_batch_size": 4}}})")
                            ->at("config")
                            .string_param())["max_batch_size"],
            4);
  EXPECT_FALSE(LoadRequestParameters(R"({"parameters": {"x": [1]}})").ok());
}

}  // namespace
}  // namespace wtserve::http
