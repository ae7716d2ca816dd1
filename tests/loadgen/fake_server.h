// An in-process OIP v2 server with a known "model", to test the loadgen's machinery (counts,
// batching, transports, accuracy bookkeeping) exactly, independent of the real wtserve. The
// real-server tests live in loadgen_server_test.cc.
//
// Model "fake": input "images" FP32 [-1,1,H,W] (also takes UINT8 and BYTES PNG), output
// "logits" FP32 [-1,10]. Its answer for an image is FakeClass(pixels) = (sum of uint8 pixels) % 10.
#ifndef WTSERVE_TESTS_LOADGEN_FAKE_SERVER_H_
#define WTSERVE_TESTS_LOADGEN_FAKE_SERVER_H_

#include <atomic>
#include <memory>
#include <string>

#include <grpcpp/server.h>
#include <opencv2/core.hpp>

#include "inference.grpc.pb.h"

namespace wtserve::testing {

int64_t FakeClass(const cv::Mat& gray_image);

class FakeInferenceServer {
 public:
  FakeInferenceServer(int height, int width);
  ~FakeInferenceServer();
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  int64_t images_seen() const;
  int64_t requests_seen() const;

  class Service;

 private:
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace wtserve::testing

#endif  // WTSERVE_TESTS_LOADGEN_FAKE_SERVER_H_
