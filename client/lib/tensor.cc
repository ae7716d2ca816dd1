#include "wtserve/tensor.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/oip/bytes_elements.h"

namespace wtserve {
namespace {

// The wire is little-endian; so is every platform wtserve builds on (x86-64, aarch64), which
// the static_assert below keeps honest.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "raw tensor contents are little-endian");

template <typename T>
std::string RawOf(absl::Span<const T> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

absl::StatusOr<std::vector<std::string>> SplitBytes(const std::string& raw, const std::string& name) {
  const oip::BytesElements split = oip::SplitBytesElements(raw);
  if (!split.complete && !split.declared.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': BYTES element ", split.elements.size(), " has a truncated 4-byte length"));
  }
  if (!split.complete) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': BYTES element ", split.elements.size(),
                                                   " claims ", *split.declared, " bytes, only ", split.remaining,
                                                   " left"));
  }
  return std::vector<std::string>(split.elements.begin(), split.elements.end());
}

template <typename T>
absl::StatusOr<std::vector<T>> Typed(const Tensor& t, const char* datatype) {
  if (t.datatype != datatype) {
    return absl::FailedPreconditionError(absl::StrCat("tensor '", t.name, "' is ", t.datatype, ", not ", datatype));
  }
  if (t.raw.size() % sizeof(T) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "': ", t.raw.size(),
                                                   " bytes is not a whole number of ", datatype, " elements"));
  }
  std::vector<T> out(t.raw.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.raw.data(), t.raw.size());
  return out;
}

}  // namespace

Tensor Tensor::Fp32(std::string name, std::vector<int64_t> shape, absl::Span<const float> values) {
  return Tensor{std::move(name), "FP32", std::move(shape), RawOf(values)};
}

Tensor Tensor::Uint8(std::string name, std::vector<int64_t> shape, absl::Span<const uint8_t> values) {
  return Tensor{std::move(name), "UINT8", std::move(shape), RawOf(values)};
}

Tensor Tensor::Bytes(std::string name, std::vector<int64_t> shape, const std::vector<std::string>& elements) {
  std::string raw;
  for (const std::string& e : elements) oip::AppendBytesElement(e, &raw);
  return Tensor{std::move(name), "BYTES", std::move(shape), std::move(raw)};
}

int64_t Tensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d < 0 ? 0 : d;
  return n;
}

int64_t Tensor::ElementSize(const std::string& datatype) {
  if (datatype == "BOOL" || datatype == "UINT8" || datatype == "INT8") return 1;
  if (datatype == "UINT16" || datatype == "INT16" || datatype == "FP16" || datatype == "BF16") return 2;
  if (datatype == "UINT32" || datatype == "INT32" || datatype == "FP32") return 4;
  if (datatype == "UINT64" || datatype == "INT64" || datatype == "FP64") return 8;
  return 0;
}

absl::Status Tensor::Validate() const {
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "' has a negative dimension in shape [", absl::StrJoin(shape, ","), "]"));
    }
  }
  if (datatype == "BYTES") {
    absl::StatusOr<std::vector<std::string>> elements = SplitBytes(raw, name);
    if (!elements.ok()) return elements.status();
    if (static_cast<int64_t>(elements->size()) != NumElements()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': shape [", absl::StrJoin(shape, ","),
                                                     "] needs ", NumElements(), " BYTES elements, got ",
                                                     elements->size()));
    }
    return absl::OkStatus();
  }
  const int64_t size = ElementSize(datatype);
  if (size == 0)
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': unknown datatype '", datatype, "'"));
  if (static_cast<int64_t>(raw.size()) != NumElements() * size) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': shape [", absl::StrJoin(shape, ","), "] ",
                                                   datatype, " needs ", NumElements() * size, " bytes, got ",
                                                   raw.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Tensor::AsFp32() const { return Typed<float>(*this, "FP32"); }
absl::StatusOr<std::vector<uint8_t>> Tensor::AsUint8() const { return Typed<uint8_t>(*this, "UINT8"); }
absl::StatusOr<std::vector<int64_t>> Tensor::AsInt64() const { return Typed<int64_t>(*this, "INT64"); }

absl::StatusOr<std::vector<std::string>> Tensor::AsBytes() const {
  if (datatype != "BYTES") {
    return absl::FailedPreconditionError(absl::StrCat("tensor '", name, "' is ", datatype, ", not BYTES"));
  }
  return SplitBytes(raw, name);
}

}  // namespace wtserve
