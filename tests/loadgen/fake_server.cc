#include "tests/loadgen/fake_server.h"

#include <cstring>
#include <vector>

#include <grpcpp/server_builder.h>
#include <opencv2/imgcodecs.hpp>

#include "common/oip/bytes_elements.h"

namespace wtserve::testing {

int64_t FakeClass(const cv::Mat& gray) { return static_cast<int64_t>(cv::sum(gray)[0]) % 10; }

class FakeInferenceServer::Service final : public inference::GRPCInferenceService::Service {
 public:
  Service(int height, int width) : height_(height), width_(width) {}

  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* response) override {
    response->set_name("fake");
    response->set_version("0");
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    if (request->name() != "fake")
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown model '" + request->name() + "'");
    response->set_name("fake");
    response->add_versions("1");
    auto* in = response->add_inputs();
    in->set_name("images");
    in->set_datatype("FP32");
    for (int64_t d : {int64_t{-1}, int64_t{1}, int64_t{height_}, int64_t{width_}}) in->add_shape(d);
    auto* out = response->add_outputs();
    out->set_name("logits");
    out->set_datatype("FP32");
    out->add_shape(-1);
    out->add_shape(10);
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    return Answer(*request, response);
  }

  grpc::Status ModelStreamInfer(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest>* stream) override {
    inference::ModelInferRequest request;
    while (stream->Read(&request)) {
      inference::ModelStreamInferResponse response;
      grpc::Status status = Answer(request, response.mutable_infer_response());
      if (!status.ok()) {
        response.set_error_message(status.error_message());
        response.mutable_infer_response()->set_id(request.id());
      }
      stream->Write(response);
    }
    return grpc::Status::OK;
  }

  std::atomic<int64_t> images{0}, requests{0};

 private:
  grpc::Status Answer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response) {
    if (request.model_name() != "fake") return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown model");
    if (request.inputs_size() != 1 || request.raw_input_contents_size() != 1) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "one raw input expected");
    }
    const auto& input = request.inputs(0);
    const std::string& raw = request.raw_input_contents(0);
    const int64_t batch = input.shape(0);
    const size_t plane = static_cast<size_t>(height_ * width_);
    std::vector<int64_t> classes;
    for (int64_t i = 0; i < batch; ++i) {
      cv::Mat gray(height_, width_, CV_8UC1);
      if (input.datatype() == "UINT8") {
        std::memcpy(gray.data, raw.data() + i * plane, plane);
      } else if (input.datatype() == "FP32") {
        for (size_t p = 0; p < plane; ++p) {
          float v;
          std::memcpy(&v, raw.data() + (i * plane + p) * 4, 4);
          gray.data[p] = static_cast<uchar>(cvRound(v * 255.0f));
        }
      } else if (input.datatype() == "BYTES") {
        const oip::BytesElements split = oip::SplitBytesElements(raw);
        if (static_cast<int64_t>(split.elements.size()) <= i) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed BYTES input");
        }
        const std::string_view element = split.elements[static_cast<size_t>(i)];
        gray = cv::imdecode(std::vector<uchar>(element.begin(), element.end()), cv::IMREAD_GRAYSCALE);
      } else {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad datatype " + input.datatype());
      }
      classes.push_back(FakeClass(gray));
    }
    images += batch;
    ++requests;
    response->set_model_name("fake");
    response->set_id(request.id());
    auto* out = response->add_outputs();
    out->set_name("logits");
    out->set_datatype("BYTES");
    out->add_shape(batch);
    out->add_shape(1);
    std::string contents;
    for (int64_t c : classes) oip::AppendBytesElement("1.5:" + std::to_string(c), &contents);
    response->add_raw_output_contents(contents);
    return grpc::Status::OK;
  }

  const int height_, width_;
};

FakeInferenceServer::FakeInferenceServer(int height, int width) : service_(std::make_unique<Service>(height, width)) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
}

FakeInferenceServer::~FakeInferenceServer() { server_->Shutdown(); }

int64_t FakeInferenceServer::images_seen() const { return service_->images; }
int64_t FakeInferenceServer::requests_seen() const { return service_->requests; }

}  // namespace wtserve::testing
