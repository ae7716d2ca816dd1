// The framing of an OIP BYTES tensor in raw contents (KServe v2 / Triton): each element is a
// 4-byte little-endian length followed by that many bytes. Shared by the server (gRPC and REST),
// the client library and the tests, so that all of them read and write it the same way.
// Header-only (standard library only).
#ifndef WTSERVE_COMMON_OIP_BYTES_ELEMENTS_H_
#define WTSERVE_COMMON_OIP_BYTES_ELEMENTS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wtserve::oip {

// Appends `element` with its length prefix to `raw`.
inline void AppendBytesElement(std::string_view element, std::string* raw) {
  const auto length = static_cast<uint32_t>(element.size());
  const char prefix[4] = {static_cast<char>(length & 0xff), static_cast<char>((length >> 8) & 0xff),
                          static_cast<char>((length >> 16) & 0xff), static_cast<char>((length >> 24) & 0xff)};
  raw->append(prefix, 4);
  raw->append(element.data(), element.size());
}

struct BytesElements {
  std::vector<std::string_view> elements;  // the complete elements, in order (views into raw)
  // Where the framing broke, if it did: the bytes left at that point, and the length the
  // element declared (nullopt: fewer than 4 bytes were left for the length itself).
  bool complete = true;
  size_t remaining = 0;
  std::optional<uint32_t> declared;
};

// Splits `raw` into its elements; stops at the first element that does not fit.
inline BytesElements SplitBytesElements(std::string_view raw) {
  BytesElements out;
  size_t pos = 0;
  while (pos < raw.size()) {
    out.remaining = raw.size() - pos;
    if (out.remaining < 4) {
      out.complete = false;
      return out;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data() + pos);
    const uint32_t length = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
    pos += 4;
    if (length > raw.size() - pos) {
      out.complete = false;
      out.remaining = raw.size() - pos;
      out.declared = length;
      return out;
    }
    out.elements.push_back(raw.substr(pos, length));
    pos += length;
  }
  out.remaining = 0;
  return out;
}

}  // namespace wtserve::oip

#endif  // WTSERVE_COMMON_OIP_BYTES_ELEMENTS_H_
