// Tensors as the Open Inference Protocol v2 (KServe v2) carries them: a name, a datatype string,
// a shape and row-major little-endian bytes (docs/reference.md §4: raw_input_contents /
// raw_output_contents). The client library never interprets model semantics here.
#ifndef WTSERVE_CLIENT_TENSOR_H_
#define WTSERVE_CLIENT_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace wtserve {

// One tensor. `datatype` is an OIP v2 datatype string: "FP32", "UINT8", "INT64", "BYTES", ...
// `raw` holds the elements row-major, little-endian, unpadded; for BYTES every element is a
// 4-byte little-endian length followed by its bytes (the OIP raw BYTES form).
struct Tensor {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  std::string raw;

  // Factories. They do not check `shape` against the element count: Validate() does, and the
  // client calls it before sending.
  static Tensor Fp32(std::string name, std::vector<int64_t> shape, absl::Span<const float> values);
  static Tensor Uint8(std::string name, std::vector<int64_t> shape, absl::Span<const uint8_t> values);
  static Tensor Bytes(std::string name, std::vector<int64_t> shape, const std::vector<std::string>& elements);

  // Product of the shape (1 for a scalar shape []). -1 dims count as 0.
  int64_t NumElements() const;
  // Size in bytes of one element for fixed-size datatypes; 0 for BYTES or unknown types.
  static int64_t ElementSize(const std::string& datatype);

  // InvalidArgument when the datatype is unknown, a dimension is negative, or raw's length
  // does not match shape x element size (BYTES: the length-prefixed elements do not parse or
  // their count differs from the shape).
  absl::Status Validate() const;

  // Typed copies of the contents. FailedPrecondition when the datatype differs;
  // InvalidArgument when raw is malformed.
  absl::StatusOr<std::vector<float>> AsFp32() const;
  absl::StatusOr<std::vector<uint8_t>> AsUint8() const;
  absl::StatusOr<std::vector<int64_t>> AsInt64() const;
  absl::StatusOr<std::vector<std::string>> AsBytes() const;
};

}  // namespace wtserve

#endif  // WTSERVE_CLIENT_TENSOR_H_
