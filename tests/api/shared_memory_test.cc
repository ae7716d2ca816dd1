// SystemSharedMemory against real POSIX shared memory objects made by the test.
#include "server/api/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wtserve::api {
namespace {

using ::testing::HasSubstr;

// A shared memory object of `size` bytes holding 0, 1, 2, ... (mod 256), removed at the end.
class ShmObject {
 public:
  explicit ShmObject(size_t size) : key_("/wtserve_test_" + std::to_string(::getpid()) + "_" + std::to_string(size)) {
    const int fd = ::shm_open(key_.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    data_ = static_cast<char*>(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ::close(fd);
    size_ = size;
    for (size_t i = 0; i < size; ++i) data_[i] = static_cast<char>(i & 0xff);
  }
  ~ShmObject() {
    ::munmap(data_, size_);
    ::shm_unlink(key_.c_str());
  }
  const std::string& key() const { return key_; }
  char* data() const { return data_; }

 private:
  std::string key_;
  char* data_ = nullptr;
  size_t size_ = 0;
};

google::protobuf::Map<std::string, inference::InferParameter> Params(const std::string& region, int64_t size,
                                                                     int64_t offset = -1) {
  google::protobuf::Map<std::string, inference::InferParameter> p;
  p["shared_memory_region"].set_string_param(region);
  if (size >= 0) p["shared_memory_byte_size"].set_int64_param(size);
  if (offset >= 0) p["shared_memory_offset"].set_int64_param(offset);
  return p;
}

TEST(SystemSharedMemory, RegistersResolvesAndReportsRegions) {
  ShmObject object(10000);
  SystemSharedMemory memory(/*enabled=*/true);
  // An offset that is not page-aligned still lands on the right byte.
  ASSERT_TRUE(memory.Register("r", object.key(), 5000, 4000).ok());
  absl::StatusOr<SystemSharedMemory::View> view = memory.Resolve(Params("r", 100, 7), "input 'x'");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->size, 100u);
  EXPECT_EQ(view->data[0], static_cast<char>((5000 + 7) & 0xff));
  // Writes reach the client's object.
  view->data[1] = 42;
  EXPECT_EQ(object.data()[5008], 42);

  inference::SystemSharedMemoryStatusResponse status;
  ASSERT_TRUE(memory.Status("", &status).ok());
  ASSERT_EQ(status.regions().count("r"), 1u);
  EXPECT_EQ(status.regions().at("r").key(), object.key());
  EXPECT_EQ(status.regions().at("r").offset(), 5000u);
  EXPECT_EQ(status.regions().at("r").byte_size(), 4000u);
  inference::SystemSharedMemoryStatusResponse other;
  EXPECT_EQ(memory.Status("other", &other).code(), absl::StatusCode::kNotFound);

  EXPECT_EQ(memory.Register("r", object.key(), 0, 10).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(memory.Register("big", object.key(), 5000, 6000).message(),
              HasSubstr("offset 5000 + byte_size 6000 is beyond the end of"));
  EXPECT_THAT(memory.Register("none", "/wtserve_no_such_object", 0, 10).message(),
              HasSubstr("cannot open the shared memory object"));
  EXPECT_EQ(memory.Register("", object.key(), 0, 10).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(memory.Register("zero", object.key(), 0, 0).code(), absl::StatusCode::kInvalidArgument);

  EXPECT_THAT(memory.Resolve(Params("r", 3995, 7), "input 'x'").status().message(),
              HasSubstr("input 'x': offset 7 + byte size 3995 is beyond shared memory region 'r' (4000 bytes)"));
  EXPECT_THAT(memory.Resolve(Params("r", -1), "input 'x'").status().message(),
              HasSubstr("needs parameter 'shared_memory_byte_size'"));
  EXPECT_THAT(memory.Resolve(Params("q", 1), "output 'y'").status().message(),
              HasSubstr("output 'y' uses shared memory region 'q', which is not registered"));

  // Unregistering keeps what a request holds mapped; the name is gone at once.
  ASSERT_TRUE(memory.Unregister("r").ok());
  EXPECT_EQ(view->data[1], 42);
  EXPECT_FALSE(memory.Resolve(Params("r", 1), "input 'x'").ok());
  EXPECT_TRUE(memory.Unregister("r").ok());  // unknown names are fine, as Triton
}

TEST(SystemSharedMemory, OffUnlessEnabled) {
  ShmObject object(64);
  SystemSharedMemory memory(/*enabled=*/false);
  absl::Status s = memory.Register("r", object.key(), 0, 64);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("--system_shared_memory"));
  EXPECT_THAT(memory.Resolve(Params("r", 1), "input 'x'").status().message(),
              HasSubstr("system shared memory is off (--system_shared_memory)"));
}

TEST(SystemSharedMemory, RequestsAreRewrittenAndOutputsWritten) {
  ShmObject input_object(16), output_object(24);
  SystemSharedMemory memory(/*enabled=*/true);
  ASSERT_TRUE(memory.Register("in", input_object.key(), 0, 16).ok());
  ASSERT_TRUE(memory.Register("out", output_object.key(), 0, 24).ok());
  inference::ModelInferRequest request;
  auto* input = request.add_inputs();
  input->set_name("x");
  *input->mutable_parameters() = Params("in", 16);
  auto* plain = request.add_outputs();
  plain->set_name("y");
  auto* shared = request.add_outputs();
  shared->set_name("z");
  *shared->mutable_parameters() = Params("out", 8, 4);
  absl::StatusOr<std::vector<SystemSharedMemory::View>> outputs = ResolveSharedMemory(memory, &request);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(request.raw_input_contents_size(), 1);
  EXPECT_EQ(request.raw_input_contents(0), std::string(input_object.data(), 16));
  EXPECT_TRUE(request.inputs(0).parameters().empty());
  EXPECT_TRUE(request.outputs(1).parameters().empty());
  ASSERT_EQ(outputs->size(), 2u);
  EXPECT_EQ((*outputs)[0].data, nullptr);
  EXPECT_EQ((*outputs)[1].size, 8u);

  inference::ModelInferResponse response;
  response.add_outputs()->set_name("y");
  response.add_outputs()->set_name("z");
  response.add_raw_output_contents("inline");
  response.add_raw_output_contents("12345678");
  ASSERT_TRUE(WriteSharedMemoryOutputs(*outputs, &response).ok());
  EXPECT_EQ(response.raw_output_contents(0), "inline");
  EXPECT_EQ(response.raw_output_contents(1), "");  // kept, empty: indices still match outputs
  EXPECT_EQ(std::string(output_object.data() + 4, 8), "12345678");
  EXPECT_EQ(response.outputs(1).parameters().at("shared_memory_byte_size").int64_param(), 8);
  response.set_raw_output_contents(1, "123456789");
  EXPECT_THAT(WriteSharedMemoryOutputs(*outputs, &response).message(),
              HasSubstr("output 'z' needs 9 bytes; its shared memory byte size is 8"));

  inference::ModelInferRequest both = request;
  *both.mutable_inputs(0)->mutable_parameters() = Params("in", 16);
  both.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  both.clear_raw_input_contents();
  EXPECT_THAT(ResolveSharedMemory(memory, &both).status().message(),
              HasSubstr("input 'x' sets both a shared memory region and contents"));
}

}  // namespace
}  // namespace wtserve::api
