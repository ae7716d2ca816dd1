#include "common/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace wtserve::data {
namespace {

uint32_t ReadBigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

absl::StatusOr<std::string> ReadMaybeGzippedFile(const std::string& path) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  probe.close();
  // gzread passes non-gzip files through unchanged, so one code path serves both.
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string out;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(file, buffer, sizeof(buffer));
    if (n < 0) {
      int errnum = 0;
      const std::string message = gzerror(file, &errnum);
      gzclose(file);
      return absl::DataLossError(absl::StrCat("corrupt gzip data in ", path, ": ", message));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  // A truncated stream ends with Z_BUF_ERROR ("unexpected end of file") rather than a read error.
  int errnum = Z_OK;
  const std::string message = gzerror(file, &errnum);
  const int close_result = gzclose(file);
  if (errnum != Z_OK && errnum != Z_STREAM_END) {
    return absl::DataLossError(absl::StrCat("truncated or corrupt gzip file ", path, ": ", message));
  }
  if (close_result != Z_OK) {
    return absl::DataLossError(absl::StrCat("truncated or corrupt gzip file ", path));
  }
  return out;
}

absl::StatusOr<IdxArray> ParseIdx(const std::string& bytes, int expected_dims, const std::string& what) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4) {
    return absl::DataLossError(absl::StrCat(what, ": ", bytes.size(), " bytes, shorter than the 4-byte IDX magic"));
  }
  if (p[0] != 0 || p[1] != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what,
                                                   ": not an IDX file (magic must start with two zero bytes; got 0x",
                                                   absl::Hex(ReadBigEndian32(p), absl::kZeroPad8), ")"));
  }
  if (p[2] != 0x08) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": IDX element type 0x", absl::Hex(p[2]), " is not 0x08 (unsigned byte)"));
  }
  const int ndims = p[3];
  if (ndims != expected_dims) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": IDX has ", ndims, " dimensions (magic 0x",
                                                   absl::Hex(ReadBigEndian32(p), absl::kZeroPad8), "), expected ",
                                                   expected_dims, " (magic 0x0000080", expected_dims, ")"));
  }
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes.size() < header) {
    return absl::DataLossError(
        absl::StrCat(what, ": truncated IDX header (", bytes.size(), " bytes, need ", header, ")"));
  }
  IdxArray array;
  uint64_t count = 1;
  for (int i = 0; i < ndims; ++i) {
    const uint32_t dim = ReadBigEndian32(p + 4 + 4 * i);
    array.dims.push_back(dim);
    // Dimensions are < 2^32 each; stop multiplying once the product exceeds any real file.
    if (count <= std::numeric_limits<uint32_t>::max()) count *= dim;
  }
  const uint64_t available = bytes.size() - header;
  if (count != available) {
    return absl::DataLossError(absl::StrCat(what, ": IDX header says ", absl::StrJoin(array.dims, " x "), " = ", count,
                                            " bytes of data but the file has ", available,
                                            count > available ? " (truncated)" : " (trailing bytes)"));
  }
  array.data.assign(bytes, header, std::string::npos);
  return array;
}

std::string EncodeIdx(const IdxArray& array) {
  std::string out;
  out.push_back(0);
  out.push_back(0);
  out.push_back(0x08);
  out.push_back(static_cast<char>(array.dims.size()));
  for (int64_t dim : array.dims) {
    const auto d = static_cast<uint32_t>(dim);
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((d >> shift) & 0xff));
  }
  out += array.data;
  return out;
}

absl::Status WriteGzippedFile(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  if (file == nullptr) return absl::InternalError(absl::StrCat("cannot create ", path));
  size_t written = 0;
  while (written < bytes.size()) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes.size() - written, 1 << 20));
    const int n = gzwrite(file, bytes.data() + written, chunk);
    if (n <= 0) {
      gzclose(file);
      return absl::InternalError(absl::StrCat("cannot write ", path));
    }
    written += static_cast<size_t>(n);
  }
  if (gzclose(file) != Z_OK) return absl::InternalError(absl::StrCat("cannot finish ", path));
  return absl::OkStatus();
}

}  // namespace wtserve::data
