// Low-level IDX (LeCun's MNIST file format) parsing, exposed for tests and for tools that
// write IDX files. Most callers want ReadIdx / ReadFashionMnist from dataset.h.
#ifndef WTSERVE_COMMON_DATA_IDX_H_
#define WTSERVE_COMMON_DATA_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wtserve::data {

// An IDX array of unsigned bytes (element type 0x08), row-major.
struct IdxArray {
  std::vector<int64_t> dims;
  std::string data;  // product(dims) bytes
};

// Reads a whole file, inflating it when it is gzip-compressed (plain files pass through).
// Errors: NotFound, DataLoss (truncated or corrupt gzip stream). Messages name the file.
absl::StatusOr<std::string> ReadMaybeGzippedFile(const std::string& path);

// Parses IDX bytes: magic 0x00 0x00 <type> <ndims>, ndims big-endian uint32 dimensions, data.
// Only type 0x08 (ubyte) is accepted and ndims must equal `expected_dims`. The data must be
// exactly product(dims) bytes. `what` names the source in error messages.
// Errors: InvalidArgument (bad magic/type/ndims), DataLoss (short or overlong data).
absl::StatusOr<IdxArray> ParseIdx(const std::string& bytes, int expected_dims, const std::string& what);

// Serialises an IDX ubyte array (magic 0x0000 08 <ndims>). Used to write test fixtures.
std::string EncodeIdx(const IdxArray& array);

// Writes `bytes` gzip-compressed to `path` (test fixtures, exported subsets).
absl::Status WriteGzippedFile(const std::string& path, const std::string& bytes);

}  // namespace wtserve::data

#endif  // WTSERVE_COMMON_DATA_IDX_H_
