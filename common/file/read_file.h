// Reads a whole (small) file — certificates, keys, tokens — for the server, its tools and the
// probe. Header-only (standard library only), so any target can include it without linking.
#ifndef WTSERVE_COMMON_FILE_READ_FILE_H_
#define WTSERVE_COMMON_FILE_READ_FILE_H_

#include <fstream>
#include <sstream>
#include <string>

namespace wtserve::file {

// The bytes of `path` into *contents; false (contents untouched) if it cannot be opened.
inline bool ReadWholeFile(const std::string& path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  *contents = text.str();
  return true;
}

}  // namespace wtserve::file

#endif  // WTSERVE_COMMON_FILE_READ_FILE_H_
