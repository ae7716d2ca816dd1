#include "server/api/reflection_v1.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

namespace wtserve::api {
namespace {

using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;
namespace pb = google::protobuf;

void Error(ServerReflectionResponse* response, grpc::StatusCode code, const char* message) {
  response->mutable_error_response()->set_error_code(code);
  response->mutable_error_response()->set_error_message(message);
}

// `file` and, before it, every dependency this stream has not sent yet.
void AddFile(const pb::FileDescriptor* file, std::vector<std::string>* sent, ServerReflectionResponse* response) {
  if (std::find(sent->begin(), sent->end(), file->name()) != sent->end()) return;
  sent->push_back(file->name());
  for (int i = 0; i < file->dependency_count(); ++i) AddFile(file->dependency(i), sent, response);
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(response->mutable_file_descriptor_response()->add_file_descriptor_proto());
}

// Answers in request order, one write in flight; finishes when the client half-closes.
class ReflectionStream final : public grpc::ServerBidiReactor<ServerReflectionRequest, ServerReflectionResponse> {
 public:
  explicit ReflectionStream(const std::vector<std::string>& services) : services_(services) { StartRead(&request_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    response_.Clear();
    AnswerReflection(services_, request_, &sent_, &response_);
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "reflection: the write failed"));
      return;
    }
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  const std::vector<std::string>& services_;
  ServerReflectionRequest request_;
  ServerReflectionResponse response_;
  std::vector<std::string> sent_;
};

}  // namespace

void AnswerReflection(const std::vector<std::string>& services, const ServerReflectionRequest& request,
                      std::vector<std::string>* sent, ServerReflectionResponse* response) {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  response->set_valid_host(request.host());
  *response->mutable_original_request() = request;
  switch (request.message_request_case()) {
    case ServerReflectionRequest::kListServices:
      for (const std::string& name : services) {
        response->mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case ServerReflectionRequest::kFileByFilename:
      if (const pb::FileDescriptor* file = pool->FindFileByName(request.file_by_filename())) {
        response->mutable_file_descriptor_response();
        AddFile(file, sent, response);
      } else {
        Error(response, grpc::StatusCode::NOT_FOUND, "File not found.");
      }
      break;
    case ServerReflectionRequest::kFileContainingSymbol:
      if (const pb::FileDescriptor* file = pool->FindFileContainingSymbol(request.file_containing_symbol())) {
        response->mutable_file_descriptor_response();
        AddFile(file, sent, response);
      } else {
        Error(response, grpc::StatusCode::NOT_FOUND, "Symbol not found.");
      }
      break;
    case ServerReflectionRequest::kFileContainingExtension: {
      const pb::Descriptor* type = pool->FindMessageTypeByName(request.file_containing_extension().containing_type());
      const pb::FieldDescriptor* extension =
          type == nullptr ? nullptr
                          : pool->FindExtensionByNumber(type, request.file_containing_extension().extension_number());
      if (type == nullptr) {
        Error(response, grpc::StatusCode::NOT_FOUND, "Type not found.");
      } else if (extension == nullptr) {
        Error(response, grpc::StatusCode::NOT_FOUND, "Extension not found.");
      } else {
        response->mutable_file_descriptor_response();
        AddFile(extension->file(), sent, response);
      }
      break;
    }
    case ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const pb::Descriptor* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        Error(response, grpc::StatusCode::NOT_FOUND, "Type not found.");
        break;
      }
      std::vector<const pb::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response->mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const pb::FieldDescriptor* e : extensions) numbers->add_extension_number(e->number());
      break;
    }
    default: Error(response, grpc::StatusCode::UNIMPLEMENTED, "The server does not support this request."); break;
  }
}

ReflectionV1Service::ReflectionV1Service(std::vector<std::string> services) : services_(std::move(services)) {}

grpc::ServerBidiReactor<ServerReflectionRequest, ServerReflectionResponse>* ReflectionV1Service::ServerReflectionInfo(
    grpc::CallbackServerContext*) {
  return new ReflectionStream(services_);
}

}  // namespace wtserve::api
