// A minimal streaming JSON writer for the loadgen report (the project has no JSON library).
// Doubles use the shortest representation that reads back exactly; NaN/inf become null.
#ifndef WTSERVE_CLIENT_LOADGEN_JSON_WRITER_H_
#define WTSERVE_CLIENT_LOADGEN_JSON_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wtserve::loadgen {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& OptionalDouble(const std::optional<double>& value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // The document, pretty-printed with two-space indents.
  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  void Quote(std::string_view value);
  void Newline();
  std::string out_;
  // Per open container: has it got an element yet.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

// Shortest round-trip text of a double ("0.1", "1e-07"); "null" for NaN/inf.
std::string FormatDouble(double value);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_JSON_WRITER_H_
