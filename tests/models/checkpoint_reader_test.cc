// The checkpoint reader is the first code a downloaded model file meets. Hostile and damaged
// pickles must end in a std::runtime_error that names the problem — never code execution, a
// crash, a read outside a buffer or an allocation the file does not justify.
#include <cstdint>
#include <string>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "server/nn/models/checkpoint.h"
#include "server/nn/models/registry.h"

namespace wtserve::nn {
namespace {

using ::testing::HasSubstr;

// Writes a PyTorch zip archive in memory: data.pkl plus data/<key> records.
std::string Archive(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& records = {}) {
  std::string out;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&out](const void* data, size_t size) {
      out.append(static_cast<const char*>(data), size);
      return size;
    });
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    for (const auto& [name, bytes] : records) writer.writeRecord(name, bytes.data(), bytes.size());
    writer.writeEndOfFile();
  }
  return out;
}

// Pickle opcodes spelled out (CPython's Lib/pickletools.py), protocol 2.
struct Pickle {
  std::string s = "\x80\x02";
  Pickle& Op(char op) {
    s.push_back(op);
    return *this;
  }
  Pickle& Str(const std::string& v) {
    s.push_back('X');
    for (int k = 0; k < 4; ++k) s.push_back(static_cast<char>((v.size() >> (8 * k)) & 0xff));
    s += v;
    return *this;
  }
  Pickle& Int(int64_t v) {
    s.push_back('\x8a');  // LONG1, 8 bytes little-endian two's complement
    s.push_back('\x08');
    for (int k = 0; k < 8; ++k) s.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 0xff));
    return *this;
  }
  Pickle& Global(const std::string& module, const std::string& name) {
    s += "c" + module + "\n" + name + "\n";
    return *this;
  }
  Pickle& Tuple(const std::vector<int64_t>& values) {
    Op('(');
    for (int64_t v : values) Int(v);
    return Op('t');
  }
  // A float storage of `numel` elements, record data/0.
  Pickle& Storage(int64_t numel) {
    Op('(').Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Int(numel);
    return Op('t').Op('Q');
  }
  // {"w": _rebuild_tensor_v2(storage(numel), offset, sizes, strides, False, OrderedDict())}
  static std::string Tensor(int64_t numel, int64_t offset, const std::vector<int64_t>& sizes,
                            const std::vector<int64_t>& strides) {
    Pickle p;
    p.Op('}').Str("w").Global("torch._utils", "_rebuild_tensor_v2").Op('(').Storage(numel);
    p.Int(offset).Tuple(sizes).Tuple(strides).Op('\x89');
    p.Global("collections", "OrderedDict").Op(')').Op('R');
    return p.Op('t').Op('R').Op('s').Op('.').s;
  }
};

// The message of the runtime_error ReadStateDictFromMemory throws ("" if it did not throw).
std::string ReadError(const std::string& archive) {
  try {
    ReadStateDictFromMemory(archive, "test.pt");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(CheckpointReaderTest, WellFormedPicklesRead) {
  EXPECT_TRUE(ReadStateDictFromMemory(Archive(Pickle().Op('}').Op('.').s), "empty.pt").empty());
  const StateDict one =
      ReadStateDictFromMemory(Archive(Pickle::Tensor(4, 1, {3}, {1}), {{"data/0", std::string(16, '\0')}}), "one.pt");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].first, "w");
  EXPECT_EQ(one[0].second.sizes(), at::IntArrayRef({3}));
}

// Globals that would run code in Python's unpickler are never called, in both spellings: the
// call becomes an opaque object named after the global, which is not a state dict.
TEST(CheckpointReaderTest, DisallowedGlobalsAreRefused) {
  for (const auto& [module, name] :
       std::vector<std::pair<std::string, std::string>>{{"os", "system"},
                                                        {"posix", "system"},
                                                        {"builtins", "eval"},
                                                        {"builtins", "exec"},
                                                        {"__builtin__", "getattr"},
                                                        {"subprocess", "Popen"},
                                                        {"torch", "load"},
                                                        {"torch._utils", "_rebuild_qtensor"}}) {
    const std::string call = Pickle().Global(module, name).Str("id").Op('\x85').Op('R').Op('.').s;
    EXPECT_THAT(ReadError(Archive(call)), HasSubstr("'" + module + "." + name + "' object (not constructed)"));
    Pickle stack_global;
    stack_global.Op('\x8c').Op(static_cast<char>(module.size())).s += module;
    stack_global.Op('\x8c').Op(static_cast<char>(name.size())).s += name;
    stack_global.Op('\x93').Op(')').Op('R').Op('.');
    EXPECT_THAT(ReadError(Archive(stack_global.s)),
                HasSubstr("'" + module + "." + name + "' object (not constructed)"));
    // Inside a dict beside other entries: named, and the dict is refused as weights.
    const std::string inside =
        Pickle().Op('}').Str("w").Global(module, name).Str("id").Op('\x85').Op('R').Op('s').Op('.').s;
    EXPECT_THAT(ReadError(Archive(inside)), HasSubstr("w ('" + module + "." + name + "' object (not constructed))"));
  }
}

TEST(CheckpointReaderTest, ReduceAndBuildMisuseIsRefused) {
  struct Case {
    std::string pickle, message;
  };
  const std::vector<Case> cases = {
      {Pickle().Op('}').Int(1).Op('\x85').Op('R').Op('.').s, "REDUCE expects global"},
      {Pickle().Global("collections", "OrderedDict").Op('}').Op('R').Op('.').s, "REDUCE expects tuple"},
      {Pickle().Global("collections", "OrderedDict").Int(1).Op('\x85').Op('R').Op('.').s, "with arguments"},
      {Pickle().Global("torch", "FloatStorage").Op(')').Op('R').Op('.').s, "called directly"},
      {Pickle().Global("torch._utils", "_rebuild_tensor_v2").Int(1).Op('\x85').Op('R').Op('.').s,
       "at least 4 arguments"},
      {Pickle().Global("torch._utils", "_rebuild_parameter").Int(1).Op('\x85').Op('R').Op('.').s, "expects tensor"},
      {Pickle().Op(']').Int(1).Op('b').Op('.').s, "BUILD expects dict"},
      {Pickle().Op('b').Op('.').s, "stack underflow"},
      {Pickle().Op('R').Op('.').s, "stack underflow"},
      {Pickle().Op('(').Op('}').Op('t').Op('Q').Op('.').s, "persistent id"},
  };
  for (const Case& c : cases) EXPECT_THAT(ReadError(Archive(c.pickle)), HasSubstr(c.message));
}

// Every prefix of a real checkpoint's pickle is an error, not a crash or a hang.
TEST(CheckpointReaderTest, TruncatedStreamsAreErrors) {
  ClassifierOptions options;
  options.num_classes = 10;
  options.in_chans = 1;
  auto net = CreateClassifier("convnext_fmnist", options);
  const std::string path = ::testing::TempDir() + "/truncation_source.pt";
  SaveStateDict(*net, path);
  caffe2::serialize::PyTorchStreamReader zip(path);
  auto [pkl, size] = zip.getRecord("data.pkl");
  const std::string pickle(static_cast<const char*>(pkl.get()), size);
  std::vector<std::pair<std::string, std::string>> records;
  for (const std::string& name : zip.getAllRecords()) {
    if (name.rfind("data/", 0) != 0) continue;
    auto [data, n] = zip.getRecord(name);
    records.emplace_back(name, std::string(static_cast<const char*>(data.get()), n));
  }
  ASSERT_FALSE(ReadStateDictFromMemory(Archive(pickle, records), "whole.pt").empty());
  for (size_t cut = 0; cut < pickle.size(); ++cut) {
    EXPECT_NE(ReadError(Archive(pickle.substr(0, cut), records)), "") << cut;
  }
  // The archive itself cut short is refused as a whole.
  const std::string archive = Archive(pickle, records);
  for (const size_t cut : {size_t{0}, size_t{10}, archive.size() / 2, archive.size() - 1}) {
    EXPECT_THAT(ReadError(archive.substr(0, cut)), HasSubstr("not a PyTorch zip checkpoint"));
  }
}

TEST(CheckpointReaderTest, ViewsOutsideTheirStorageAreRefused) {
  const std::vector<std::pair<std::string, std::string>> four_floats = {{"data/0", std::string(16, '\0')}};
  EXPECT_THAT(ReadError(Archive(Pickle::Tensor(4, 0, {5}, {1}), four_floats)),
              HasSubstr("exceeds its storage of 4 elements"));
  EXPECT_THAT(ReadError(Archive(Pickle::Tensor(4, 2, {2, 2}, {1, 1}), four_floats)), HasSubstr("exceeds its storage"));
  EXPECT_THAT(ReadError(Archive(Pickle::Tensor(4, -1, {1}, {1}), four_floats)), HasSubstr("exceeds its storage"));
  EXPECT_THAT(ReadError(Archive(Pickle::Tensor(4, 0, {2}, {-1}), four_floats)), HasSubstr("negative size or stride"));
  // (size - 1) * stride wraps around in 64 bits: refused, not passed as a small offset.
  EXPECT_THAT(ReadError(Archive(Pickle::Tensor(4, 0, {int64_t{1} << 62, 2}, {4, int64_t{1} << 62}), four_floats)),
              HasSubstr("overflows 64 bits"));
  EXPECT_THAT(ReadError(Archive(Pickle::Tensor(4, 0, {3}, {1}), {{"data/0", std::string(12, '\0')}})),
              HasSubstr("holds 12 bytes, expected 4 x 4"));
  EXPECT_THAT(ReadError(Archive(Pickle::Tensor(4, 0, {3}, {1}))), HasSubstr("missing tensor record"));
}

// Sizes a file declares but does not hold are refused before anything is allocated for them.
TEST(CheckpointReaderTest, HugeDeclaredSizesAreRefused) {
  // A storage of 2^62 floats (2^64 bytes: the product wraps to 0 in 64 bits) on an empty record.
  EXPECT_THAT(ReadError(Archive(Pickle::Tensor(int64_t{1} << 62, 0, {1}, {1}), {{"data/0", std::string()}})),
              HasSubstr("holds 0 bytes"));
  // A string of 2^63 bytes, and one of 4 GiB, in a 20-byte pickle.
  std::string long_string = Pickle().s + "\x8d" + std::string(7, '\0') + "\x80" + "abc";
  EXPECT_THAT(ReadError(Archive(long_string)), HasSubstr("truncated"));
  EXPECT_THAT(ReadError(Archive(Pickle().s + "X\xff\xff\xff\xff" + "abc")), HasSubstr("truncated"));
  // An integer wider than 64 bits.
  EXPECT_THAT(ReadError(Archive(Pickle().s + "\x8a\x09" + std::string(9, '\1') + ".")),
              HasSubstr("wider than 64 bits"));
}

// Cycles and deep nesting (which Python's pickle allows) end in a clean error: no stack overflow
// while the objects are taken apart, and nothing leaks (LeakSanitizer in the fuzz build).
TEST(CheckpointReaderTest, CyclesAndDeepNestingAreHarmless) {
  EXPECT_THAT(ReadError(Archive(Pickle().Op(']').Op('2').Op('a').Op('.').s)), HasSubstr("top-level object is a list"));
  Pickle deep;
  deep.Op(')');
  for (int k = 0; k < 1000000; ++k) deep.Op('\x85');  // ((((...),),),)
  EXPECT_THAT(ReadError(Archive(deep.Op('.').s)), HasSubstr("top-level object is a tuple"));
  Pickle self_dict;  // d = {}; d["me"] = d, through the memo
  self_dict.Op('}').Op('q').Op('\0').Str("me").Op('h').Op('\0').Op('s').Op('.');
  EXPECT_THAT(ReadError(Archive(self_dict.s)), HasSubstr("is neither a state dict"));
}

}  // namespace
}  // namespace wtserve::nn
