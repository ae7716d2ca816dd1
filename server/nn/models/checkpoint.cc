#include "server/nn/models/checkpoint.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>
#include <torch/utils.h>

#include "server/nn/exception_text.h"

namespace wtserve::nn {
namespace {

// ---------------------------------------------------------------------------------------------
// A restricted pickle interpreter (opcodes as in CPython's Lib/pickletools.py).

struct PyObj;
using PyRef = std::shared_ptr<PyObj>;

struct PyObj {
  // kObject: an instance of a class outside the allow-list (argparse.Namespace in a training
  // checkpoint, a numpy scalar): recorded by name, never constructed. It may sit in entries
  // beside the weights; weights that contain one are refused.
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kStr,
    kBytes,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor,
    kObject
  };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                                 // str, bytes, "module.name" of a global or of an object's class
  std::vector<PyRef> items;                      // tuple, list
  std::vector<std::pair<PyRef, PyRef>> entries;  // dict (insertion order)
  torch::Tensor tensor;                          // storage (1-D) or tensor
};

// Every object a PickleMachine creates, so that it can take them all apart at the end: a
// hostile pickle can build cycles (a list appended to itself) that shared_ptr alone would leak,
// and nesting a million deep that a recursive destructor chain would overflow the stack on.
class ObjectArena {
 public:
  ~ObjectArena() {
    for (const PyRef& o : objects_) {
      o->items.clear();
      o->entries.clear();
    }
  }
  PyRef Make(PyObj::Kind kind) {
    objects_.push_back(std::make_shared<PyObj>());
    objects_.back()->kind = kind;
    return objects_.back();
  }

 private:
  std::vector<PyRef> objects_;
};

const char* KindName(PyObj::Kind k) {
  switch (k) {
    case PyObj::Kind::kNone: return "None";
    case PyObj::Kind::kBool: return "bool";
    case PyObj::Kind::kInt: return "int";
    case PyObj::Kind::kFloat: return "float";
    case PyObj::Kind::kStr: return "str";
    case PyObj::Kind::kBytes: return "bytes";
    case PyObj::Kind::kTuple: return "tuple";
    case PyObj::Kind::kList: return "list";
    case PyObj::Kind::kDict: return "dict";
    case PyObj::Kind::kGlobal: return "global";
    case PyObj::Kind::kStorage: return "storage";
    case PyObj::Kind::kTensor: return "tensor";
    case PyObj::Kind::kObject: return "object";
  }
  return "?";
}

// torch.<Name>Storage -> dtype (the typed-storage names torch.save writes).
const std::map<std::string, at::ScalarType>& StorageTypes() {
  static const auto* types = new std::map<std::string, at::ScalarType>{
      {"torch.DoubleStorage", at::kDouble},     {"torch.FloatStorage", at::kFloat}, {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16}, {"torch.LongStorage", at::kLong},   {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},       {"torch.CharStorage", at::kChar},   {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool},
  };
  return *types;
}

// Python ints are arbitrary precision; views of storages are checked in 64 bits without
// overflow (a wrapped product could let a view past its storage through the bounds check).
bool MulOverflows(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }
bool AddOverflows(int64_t a, int64_t b, int64_t* out) { return __builtin_add_overflow(a, b, out); }

class PickleMachine {
 public:
  PickleMachine(const char* data, size_t size, caffe2::serialize::PyTorchStreamReader& zip)
      : data_(data), size_(size), zip_(zip) {}

  PyRef Run() {
    while (true) {
      const uint8_t op = U8();
      switch (op) {
        case 0x80: U8(); break;      // PROTO
        case 0x95: Bytes(8); break;  // FRAME (length only; data follows inline)
        case '.': {                  // STOP
          if (stack_.size() != 1) Fail("STOP with " + std::to_string(stack_.size()) + " objects");
          return stack_.back();
        }
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': Pop(); break;                            // POP
        case '1': PopMark(); break;                        // POP_MARK
        case '2': Push(Top()); break;                      // DUP
        case 'N': Push(arena_.Make(PyObj::Kind::kNone)); break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
          auto o = arena_.Make(PyObj::Kind::kBool);
          o->b = op == 0x88;
          Push(o);
          break;
        }
        case 'J': PushInt(static_cast<int32_t>(LittleEndian(4))); break;  // BININT
        case 'K': PushInt(U8()); break;                                   // BININT1
        case 'M': PushInt(static_cast<int64_t>(LittleEndian(2))); break;  // BININT2
        case 0x8a: {                                                      // LONG1
          const size_t n = U8();
          if (n > 8) {  // wider than 64 bits: kept as an opaque value, never a tensor size
            Bytes(n);
            Push(MakeObject("int wider than 64 bits"));
            break;
          }
          uint64_t v = n ? LittleEndian(n) : 0;
          if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          PushInt(static_cast<int64_t>(v));
          break;
        }
        case 0x8b: {  // LONG4: only ever wider than 64 bits in practice
          Bytes(LittleEndian(4));
          Push(MakeObject("int wider than 64 bits"));
          break;
        }
        case 0x8f: Push(arena_.Make(PyObj::Kind::kList)); break;  // EMPTY_SET (kept as a list)
        case 0x90: {                                              // ADDITEMS
          auto vs = PopMark();
          auto& set = Expect(Top(), PyObj::Kind::kList, "ADDITEMS")->items;
          set.insert(set.end(), vs.begin(), vs.end());
          break;
        }
        case 0x91: {  // FROZENSET
          auto o = arena_.Make(PyObj::Kind::kList);
          o->items = PopMark();
          Push(o);
          break;
        }
        case 'G': {  // BINFLOAT (big-endian double)
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | U8();
          auto o = arena_.Make(PyObj::Kind::kFloat);
          std::memcpy(&o->f, &bits, sizeof bits);
          Push(o);
          break;
        }
        case 'X': PushStr(PyObj::Kind::kStr, LittleEndian(4)); break;    // BINUNICODE
        case 0x8c: PushStr(PyObj::Kind::kStr, U8()); break;              // SHORT_BINUNICODE
        case 0x8d: PushStr(PyObj::Kind::kStr, LittleEndian(8)); break;   // BINUNICODE8
        case 'T': PushStr(PyObj::Kind::kStr, LittleEndian(4)); break;    // BINSTRING
        case 'U': PushStr(PyObj::Kind::kStr, U8()); break;               // SHORT_BINSTRING
        case 'B': PushStr(PyObj::Kind::kBytes, LittleEndian(4)); break;  // BINBYTES
        case 'C': PushStr(PyObj::Kind::kBytes, U8()); break;             // SHORT_BINBYTES
        case ')': Push(arena_.Make(PyObj::Kind::kTuple)); break;         // EMPTY_TUPLE
        case 't': {                                                      // TUPLE
          auto o = arena_.Make(PyObj::Kind::kTuple);
          o->items = PopMark();
          Push(o);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = op - 0x84;
          if (stack_.size() < n) Fail("stack underflow in TUPLE" + std::to_string(n));
          auto o = arena_.Make(PyObj::Kind::kTuple);
          o->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          Push(o);
          break;
        }
        case ']': Push(arena_.Make(PyObj::Kind::kList)); break;  // EMPTY_LIST
        case 'l': {                                              // LIST
          auto o = arena_.Make(PyObj::Kind::kList);
          o->items = PopMark();
          Push(o);
          break;
        }
        case 'a': {  // APPEND
          auto v = Pop();
          Expect(Top(), PyObj::Kind::kList, "APPEND")->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          auto vs = PopMark();
          auto& list = Expect(Top(), PyObj::Kind::kList, "APPENDS")->items;
          list.insert(list.end(), vs.begin(), vs.end());
          break;
        }
        case '}': Push(arena_.Make(PyObj::Kind::kDict)); break;  // EMPTY_DICT
        case 'd': {                                              // DICT
          auto o = arena_.Make(PyObj::Kind::kDict);
          SetItems(o, PopMark());
          Push(o);
          break;
        }
        case 's': {  // SETITEM
          auto v = Pop();
          auto k = Pop();
          SetItems(Expect(Top(), PyObj::Kind::kDict, "SETITEM"), {k, v});
          break;
        }
        case 'u': {  // SETITEMS
          auto kvs = PopMark();
          SetItems(Expect(Top(), PyObj::Kind::kDict, "SETITEMS"), kvs);
          break;
        }
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = Line();
          std::string name = Line();
          PushGlobal(module + "." + name);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = Expect(Pop(), PyObj::Kind::kStr, "STACK_GLOBAL");
          auto module = Expect(Pop(), PyObj::Kind::kStr, "STACK_GLOBAL");
          PushGlobal(module->s + "." + name->s);
          break;
        }
        case 'R': {  // REDUCE
          auto args = Expect(Pop(), PyObj::Kind::kTuple, "REDUCE");
          auto fn = Pop();
          if (fn->kind == PyObj::Kind::kObject || (fn->kind == PyObj::Kind::kGlobal && fn->b)) {
            Push(MakeObject(fn->s));  // a call of something outside the allow-list: not made
            break;
          }
          Push(Call(Expect(fn, PyObj::Kind::kGlobal, "REDUCE")->s, args->items));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args), only ever an opaque object here
          Expect(Pop(), PyObj::Kind::kTuple, "NEWOBJ");
          Push(MakeObject(Class(Pop(), "NEWOBJ")));
          break;
        }
        case 0x92: {  // NEWOBJ_EX
          Expect(Pop(), PyObj::Kind::kDict, "NEWOBJ_EX");
          Expect(Pop(), PyObj::Kind::kTuple, "NEWOBJ_EX");
          Push(MakeObject(Class(Pop(), "NEWOBJ_EX")));
          break;
        }
        case 'b': {  // BUILD: OrderedDict's instance state (state_dict()._metadata), or an object's
          Pop();
          if (Top()->kind != PyObj::Kind::kObject) Expect(Top(), PyObj::Kind::kDict, "BUILD");
          break;
        }
        case 'Q': {  // BINPERSID
          auto pid = Expect(Pop(), PyObj::Kind::kTuple, "BINPERSID");
          Push(LoadStorage(pid->items));
          break;
        }
        case 'q': memo_[U8()] = Top(); break;             // BINPUT
        case 'r': memo_[LittleEndian(4)] = Top(); break;  // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = Top(); break;    // MEMOIZE
        case 'h': Push(Memo(U8())); break;                // BINGET
        case 'j': Push(Memo(LittleEndian(4))); break;     // LONG_BINGET
        default: {
          std::ostringstream msg;
          msg << "unsupported pickle opcode 0x" << std::hex << static_cast<int>(op);
          Fail(msg.str());
        }
      }
    }
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw std::runtime_error("pickle at byte " + std::to_string(pos_) + ": " + what);
  }

  uint8_t U8() {
    if (pos_ >= size_) Fail("truncated data.pkl");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::string Bytes(uint64_t n) {
    if (n > size_ - pos_) Fail("truncated data.pkl");
    std::string s(data_ + pos_, n);
    pos_ += n;
    return s;
  }
  uint64_t LittleEndian(size_t n) {
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(U8()) << (8 * k);
    return v;
  }
  std::string Line() {
    std::string s;
    for (char c; (c = static_cast<char>(U8())) != '\n';) s.push_back(c);
    return s;
  }

  void Push(PyRef o) { stack_.push_back(std::move(o)); }
  void PushInt(int64_t v) {
    auto o = arena_.Make(PyObj::Kind::kInt);
    o->i = v;
    Push(o);
  }
  void PushStr(PyObj::Kind kind, uint64_t n) {
    auto o = arena_.Make(kind);
    o->s = Bytes(n);
    Push(o);
  }
  PyRef Pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back())) {
      Fail("stack underflow");
    }
    auto o = stack_.back();
    stack_.pop_back();
    return o;
  }
  const PyRef& Top() const {
    if (stack_.empty()) Fail("stack underflow");
    return stack_.back();
  }
  std::vector<PyRef> PopMark() {
    if (marks_.empty()) Fail("MARK expected");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return items;
  }
  PyRef Memo(uint64_t key) const {
    auto it = memo_.find(key);
    if (it == memo_.end()) Fail("memo key " + std::to_string(key) + " not set");
    return it->second;
  }
  PyRef Expect(const PyRef& o, PyObj::Kind kind, const char* where) const {
    if (o->kind != kind) {
      Fail(std::string(where) + " expects " + KindName(kind) + ", got " + KindName(o->kind));
    }
    return o;
  }
  void SetItems(const PyRef& dict, const std::vector<PyRef>& kvs) {
    if (kvs.size() % 2) Fail("odd number of dict items");
    for (size_t k = 0; k < kvs.size(); k += 2) dict->entries.emplace_back(kvs[k], kvs[k + 1]);
  }

  void PushGlobal(const std::string& name) {
    static const char* kAllowed[] = {"collections.OrderedDict",
                                     "builtins.dict",
                                     "torch._utils._rebuild_tensor_v2",
                                     "torch._utils._rebuild_parameter",
                                     "torch._utils._rebuild_parameter_with_state",
                                     "torch.jit._pickle.restore_type_tag"};
    bool ok = StorageTypes().count(name) > 0;
    for (const char* allowed : kAllowed) ok = ok || name == allowed;
    auto o = arena_.Make(PyObj::Kind::kGlobal);
    o->s = name;
    o->b = !ok;  // outside the allow-list: calling it only ever gives an opaque kObject
    Push(o);
  }

  PyRef MakeObject(const std::string& class_name) {
    auto o = arena_.Make(PyObj::Kind::kObject);
    o->s = class_name;
    return o;
  }
  std::string Class(const PyRef& cls, const char* where) const {
    if (cls->kind != PyObj::Kind::kGlobal && cls->kind != PyObj::Kind::kObject) {
      Fail(std::string(where) + " expects a class, got " + KindName(cls->kind));
    }
    return cls->s;
  }

  int64_t Int(const PyRef& o, const char* what) const {
    if (o->kind != PyObj::Kind::kInt) Fail(std::string(what) + " must be an int");
    return o->i;
  }
  std::vector<int64_t> Ints(const PyRef& o, const char* what) const {
    if (o->kind != PyObj::Kind::kTuple) Fail(std::string(what) + " must be a tuple");
    std::vector<int64_t> v;
    for (const auto& x : o->items) v.push_back(Int(x, what));
    return v;
  }

  PyRef Call(const std::string& fn, const std::vector<PyRef>& args) {
    if (fn == "collections.OrderedDict" || fn == "builtins.dict") {
      if (!args.empty()) Fail(fn + " with arguments");
      return arena_.Make(PyObj::Kind::kDict);
    }
    if (fn == "torch.jit._pickle.restore_type_tag") {
      if (args.size() != 2) Fail("restore_type_tag expects 2 arguments");
      return args[0];
    }
    if (fn == "torch._utils._rebuild_parameter" || fn == "torch._utils._rebuild_parameter_with_state") {
      if (args.empty()) Fail(fn + " without data");
      return Expect(args[0], PyObj::Kind::kTensor, fn.c_str());
    }
    if (fn == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args.size() < 4) Fail("_rebuild_tensor_v2 expects at least 4 arguments");
      const auto& storage = Expect(args[0], PyObj::Kind::kStorage, "_rebuild_tensor_v2")->tensor;
      const int64_t offset = Int(args[1], "storage offset");
      const auto sizes = Ints(args[2], "tensor size");
      const auto strides = Ints(args[3], "tensor stride");
      if (sizes.size() != strides.size()) Fail("size and stride lengths differ");
      int64_t last = offset;  // highest element index touched
      bool empty = false;
      for (size_t d = 0; d < sizes.size(); ++d) {
        if (sizes[d] < 0 || strides[d] < 0) Fail("negative size or stride");
        if (sizes[d] == 0) empty = true;
      }
      for (size_t d = 0; d < sizes.size() && !empty; ++d) {
        int64_t span = 0;
        if (MulOverflows(sizes[d] - 1, strides[d], &span) || AddOverflows(last, span, &last)) {
          Fail("tensor view of size " + ShapeOf(sizes) + " and stride " + ShapeOf(strides) + " overflows 64 bits");
        }
      }
      if (offset < 0 || (!empty && last >= storage.numel())) {
        Fail("tensor view exceeds its storage of " + std::to_string(storage.numel()) + " elements");
      }
      auto o = arena_.Make(PyObj::Kind::kTensor);
      o->tensor = empty ? torch::empty(sizes, storage.options()) : storage.as_strided(sizes, strides, offset).clone();
      return o;
    }
    if (StorageTypes().count(fn)) Fail("storage type '" + fn + "' called directly");
    Fail("cannot call '" + fn + "'");
  }

  // pid = ('storage', storage_type, key, location, numel)
  PyRef LoadStorage(const std::vector<PyRef>& pid) {
    if (pid.size() != 5 || pid[0]->kind != PyObj::Kind::kStr || pid[0]->s != "storage") {
      Fail("persistent id is not a ('storage', type, key, location, numel) tuple");
    }
    auto type = Expect(pid[1], PyObj::Kind::kGlobal, "storage type");
    const auto dtype_it = StorageTypes().find(type->s);
    if (dtype_it == StorageTypes().end()) Fail("unsupported storage type '" + type->s + "'");
    const std::string key = Expect(pid[2], PyObj::Kind::kStr, "storage key")->s;
    const int64_t numel = Int(pid[4], "storage numel");
    auto cached = storages_.find(key);
    if (cached == storages_.end()) {
      const std::string record = "data/" + key;
      if (!zip_.hasRecord(record)) Fail("missing tensor record '" + record + "'");
      auto [ptr, nbytes] = zip_.getRecord(record);
      const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype_it->second));
      int64_t expected_bytes = 0;
      if (numel < 0 || MulOverflows(numel, elem, &expected_bytes) || static_cast<int64_t>(nbytes) != expected_bytes) {
        Fail("record '" + record + "' holds " + std::to_string(nbytes) + " bytes, expected " + std::to_string(numel) +
             " x " + std::to_string(elem));
      }
      auto t = torch::empty({numel}, torch::TensorOptions().dtype(dtype_it->second));
      if (nbytes) std::memcpy(t.data_ptr(), ptr.get(), nbytes);
      cached = storages_.emplace(key, t).first;
    }
    auto o = arena_.Make(PyObj::Kind::kStorage);
    o->tensor = cached->second;
    return o;
  }

  static std::string ShapeOf(const std::vector<int64_t>& v) {
    std::string out = "[";
    for (size_t k = 0; k < v.size(); ++k) out += (k ? ", " : "") + std::to_string(v[k]);
    return out + "]";
  }

  // Declared first: destroyed last, after the stack and memo let go of their references.
  ObjectArena arena_;
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyRef> memo_;
  std::map<std::string, torch::Tensor> storages_;
};

std::string ShapeString(at::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

std::string JoinLimited(const std::vector<std::string>& items, size_t limit = 40) {
  std::string out;
  for (size_t k = 0; k < items.size() && k < limit; ++k) out += (k ? ", " : "") + items[k];
  if (items.size() > limit) out += ", ... (" + std::to_string(items.size() - limit) + " more)";
  return out;
}

}  // namespace

namespace {

// What a top-level value is, for messages: "dict of 182 entries (182 tensors)", "int",
// "'argparse.Namespace' object (not constructed)".
std::string Describe(const PyRef& v) {
  if (v->kind == PyObj::Kind::kObject) return "'" + v->s + "' object (not constructed)";
  if (v->kind != PyObj::Kind::kDict) return KindName(v->kind);
  size_t tensors = 0;
  for (const auto& [key, value] : v->entries) tensors += value->kind == PyObj::Kind::kTensor;
  return "dict of " + std::to_string(v->entries.size()) + " entries (" + std::to_string(tensors) + " tensors)";
}

// Whether `v` is a dict of str -> tensor (a state dict).
bool IsStateDict(const PyRef& v) {
  if (v->kind != PyObj::Kind::kDict || v->entries.empty()) return false;
  for (const auto& [key, value] : v->entries) {
    if (key->kind != PyObj::Kind::kStr || value->kind != PyObj::Kind::kTensor) return false;
  }
  return true;
}

// The wrapper entries training scripts use, in timm's order of preference.
constexpr const char* kWrapperKeys[] = {"state_dict_ema", "model_ema", "state_dict", "model"};

// The dict that holds the weights: the root itself when it is a state dict, else the wrapper
// entry `options.entry` names or the only wrapper entry that holds a state dict.
PyRef SelectStateDict(const PyRef& root, const CheckpointOptions& options, CheckpointLayout* layout) {
  if (root->kind != PyObj::Kind::kDict) {
    throw std::runtime_error("top-level object is a " + Describe(root) +
                             ", expected a dict of tensors (model.state_dict())");
  }
  std::map<std::string, PyRef> by_key;
  std::vector<std::string> listing;
  for (const auto& [key, value] : root->entries) {
    if (key->kind != PyObj::Kind::kStr) continue;
    by_key.emplace(key->s, value);
    listing.push_back(key->s + " (" + Describe(value) + ")");
  }
  const std::string contents = "its top-level entries: " + JoinLimited(listing, 12);
  if (layout != nullptr) layout->top_level = listing;
  if (!options.entry.empty()) {
    auto it = by_key.find(options.entry);
    if (it == by_key.end()) {
      throw std::runtime_error("has no top-level entry '" + options.entry + "' (architecture.checkpoint_entry); " +
                               contents);
    }
    if (!IsStateDict(it->second)) {
      throw std::runtime_error("entry '" + options.entry + "' is a " + Describe(it->second) +
                               ", expected a dict of str -> tensor");
    }
    if (layout != nullptr) layout->entry = options.entry;
    return it->second;
  }
  if (root->entries.empty() || IsStateDict(root)) return root;
  std::vector<std::string> candidates;
  for (const char* key : kWrapperKeys) {
    auto it = by_key.find(key);
    if (it != by_key.end() && IsStateDict(it->second)) candidates.push_back(key);
  }
  if (candidates.size() == 1) {
    if (layout != nullptr) layout->entry = candidates[0];
    return by_key[candidates[0]];
  }
  if (candidates.size() > 1) {
    std::string names;
    for (const std::string& c : candidates) names += (names.empty() ? "" : ", ") + c;
    throw std::runtime_error("holds several state dicts (" + names +
                             "): set architecture.checkpoint_entry in config.pbtxt to the one to "
                             "serve, e.g. checkpoint_entry: \"" +
                             candidates[0] + "\"");
  }
  throw std::runtime_error(
      "is neither a state dict (str -> tensor) nor a dict wrapping one under state_dict_ema, "
      "model_ema, state_dict or model; " +
      contents + " (set architecture.checkpoint_entry to the entry that holds the weights)");
}

// Reads the state dict from an open archive; `where` prefixes every error message.
StateDict ReadStateDictFrom(caffe2::serialize::PyTorchStreamReader& zip, const std::string& where,
                            const CheckpointOptions& options, CheckpointLayout* layout) {
  StateDict out;
  try {
    if (!zip.hasRecord("data.pkl")) throw std::runtime_error("no data.pkl record");
    auto [pkl, size] = zip.getRecord("data.pkl");
    // The machine (and every object it made) lives until the tensors have been taken out.
    PickleMachine machine(static_cast<const char*>(pkl.get()), size, zip);
    const PyRef root = machine.Run();
    const PyRef weights = SelectStateDict(root, options, layout);
    for (const auto& [key, value] : weights->entries) out.emplace_back(key->s, value->tensor);
    // Saved from torch.nn.DataParallel / DistributedDataParallel: every key starts "module.".
    const std::string prefix = "module.";
    const bool wrapped_module = !out.empty() && std::all_of(out.begin(), out.end(), [&](const auto& kv) {
      return kv.first.compare(0, prefix.size(), prefix) == 0;
    });
    if (wrapped_module) {
      for (auto& kv : out) kv.first.erase(0, prefix.size());
    }
    if (layout != nullptr) layout->stripped_module_prefix = wrapped_module;
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ExceptionText(e));
  }
  return out;
}

// torch.save's legacy (pre-1.6) format starts with a pickled magic number,
// 0x1950a86a20f9469cfc6c (LONG1 of 10 bytes), after the PROTO opcode.
bool IsLegacyTorchSave(const char* data, size_t size) {
  static const unsigned char kMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return size >= 2 + sizeof kMagic && static_cast<unsigned char>(data[0]) == 0x80 &&
         std::memcmp(data + 2, kMagic, sizeof kMagic) == 0;
}

std::string NotAZipCheckpoint(const char* data, size_t size) {
  if (IsLegacyTorchSave(data, size)) {
    return "legacy torch.save format (PyTorch < 1.6, or _use_new_zipfile_serialization=False), "
           "which wtserve does not read; convert it once with Python: "
           "python3 -c \"import torch; torch.save(torch.load('IN.pth', map_location='cpu'), "
           "'OUT.pth')\"";
  }
  return "not a PyTorch zip checkpoint (torch.save of PyTorch >= 1.6 or torch::pickle_save)";
}

}  // namespace

StateDict ReadStateDict(const std::string& path, const CheckpointOptions& options, CheckpointLayout* layout) {
  const std::string where = "checkpoint '" + path + "': ";
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(where + "cannot open the file");
  char head[16] = {};
  file.read(head, sizeof head);
  const size_t head_size = static_cast<size_t>(file.gcount());
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const std::exception& e) {
    throw std::runtime_error(where + NotAZipCheckpoint(head, head_size));
  }
  return ReadStateDictFrom(*zip, where, options, layout);
}

StateDict ReadStateDictFromMemory(const std::string& bytes, const std::string& name, const CheckpointOptions& options) {
  const std::string where = "checkpoint '" + name + "': ";
  std::istringstream in(bytes);
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(&in);
  } catch (const std::exception& e) {
    throw std::runtime_error(where + NotAZipCheckpoint(bytes.data(), bytes.size()));
  }
  return ReadStateDictFrom(*zip, where, options, nullptr);
}

StateDict ModuleStateDict(const torch::nn::Module& module) {
  StateDict out;
  auto add_own = [&out](const torch::nn::Module& m, const std::string& prefix) {
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      out.emplace_back(prefix + p.key(), p.value());
    }
    for (const auto& b : m.named_buffers(/*recurse=*/false)) {
      out.emplace_back(prefix + b.key(), b.value());
    }
  };
  // include_self=false keeps this usable on modules not owned by a shared_ptr.
  add_own(module, "");
  for (const auto& item : module.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    add_own(*item.value(), item.key() + ".");
  }
  return out;
}

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The official fused WTConv implementation (fast_wtconv; Haar only) names a layer's parameters
// differently and saves no filter tensors (docs/models.md, "Checkpoints"):
//   CUDA / Triton: base_weight, base_bias, base_scale, wt_weights.{i}, wt_scales.{i}
//   Metal:         base_conv.{weight,bias}, base_scale (a bare tensor), wavelet_convs.{i}.weight,
//                  wavelet_scales.{i}
// Shapes and band order (4c + s; LL, LH, HL, HH with the reference's signs) equal WTConv2d's.
// Renames such keys to WTConv2d's where the model has the WTConv2d key and the file lacks it,
// and adds the missing wt_filter / iwt_filter from the model's own (Haar) construction. The Metal
// layer adds its bias after the scale, WTConv2d (like the reference) before it: bias / scale
// gives the same function.
void TranslateFastWTConv(StateDict& file, const StateDict& model, const std::string& path) {
  std::map<std::string, const torch::Tensor*> in_model;
  for (const auto& [key, t] : model) in_model[key] = &t;
  std::map<std::string, size_t> in_file;
  for (size_t i = 0; i < file.size(); ++i) in_file[file[i].first] = i;
  const auto wanted = [&](const std::string& key) { return in_model.count(key) && !in_file.count(key); };

  std::set<std::string> layers, metal_layers;
  for (auto& [key, tensor] : file) {
    std::string target;
    std::string layer;
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{"base_weight", "base_conv.weight"},
                                                          {"base_bias", "base_conv.bias"},
                                                          {"base_scale", "base_scale.weight"}}) {
      if (EndsWith(key, from) && (key.size() == from.size() || key[key.size() - from.size() - 1] == '.')) {
        layer = key.substr(0, key.size() - from.size());
        target = layer + to;
      }
    }
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{"wt_weights.", "wavelet_convs."},
                                                          {"wt_scales.", "wavelet_scale."},
                                                          {"wavelet_scales.", "wavelet_scale."}}) {
      const size_t at = key.rfind(from);
      if (at == std::string::npos || (at > 0 && key[at - 1] != '.')) continue;
      const std::string index = key.substr(at + from.size());
      if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) continue;
      layer = key.substr(0, at);
      target = layer + to + index + ".weight";
      if (from == "wavelet_scales.") metal_layers.insert(layer);
    }
    if (target.empty() || !wanted(target) || in_model[target]->sizes() != tensor.sizes()) continue;
    if (EndsWith(key, "base_scale") && in_file.count(layer + "base_conv.weight")) metal_layers.insert(layer);
    key = target;
    layers.insert(layer);
  }
  for (const std::string& layer : layers) {
    for (const char* filter : {"wt_filter", "iwt_filter"}) {
      const std::string key = layer + filter;
      if (wanted(key)) file.emplace_back(key, in_model[key]->clone());
    }
  }
  for (const std::string& layer : metal_layers) {
    torch::Tensor* bias = nullptr;
    torch::Tensor* scale = nullptr;
    for (auto& [key, t] : file) {
      if (key == layer + "base_conv.bias") bias = &t;
      if (key == layer + "base_scale.weight") scale = &t;
    }
    if (bias == nullptr || scale == nullptr) continue;
    const torch::Tensor s = scale->reshape({-1}).to(torch::kDouble);
    if ((s == 0).any().item<bool>()) {
      throw std::runtime_error("checkpoint '" + path + "': layer '" + layer +
                               "' (fast_wtconv Metal layout) has a zero base_scale; its unscaled bias cannot be "
                               "expressed as WTConv2d's scale * (conv + bias)");
    }
    *bias = (bias->to(torch::kDouble) / s).to(bias->scalar_type());
  }
}

}  // namespace

StateDictMismatch CompareStateDict(const torch::nn::Module& module, StateDict& file, const std::string& name) {
  const StateDict model = ModuleStateDict(module);
  TranslateFastWTConv(file, model, name);
  StateDictMismatch m;
  m.file_keys = file.size();
  m.model_keys = model.size();
  std::map<std::string, const torch::Tensor*> in_file;
  for (const auto& [key, t] : file) in_file[key] = &t;
  std::map<std::string, bool> in_model;
  for (const auto& [key, target] : model) {
    in_model[key] = true;
    auto it = in_file.find(key);
    if (it == in_file.end()) {
      m.missing.push_back(key);
    } else if (it->second->sizes() != target.sizes()) {
      m.misshaped.push_back(key + " (checkpoint " + ShapeString(it->second->sizes()) + ", model " +
                            ShapeString(target.sizes()) + ")");
    }
  }
  for (const auto& [key, t] : file) {
    if (!in_model.count(key)) m.unexpected.push_back(key);
  }
  return m;
}

std::string StateDictMismatch::Summary(size_t limit) const {
  std::string msg = std::to_string(file_keys) + " keys in the file, " + std::to_string(model_keys) + " in the model";
  const auto part = [&](const char* what, const std::vector<std::string>& keys) {
    if (!keys.empty())
      msg += std::string("; ") + what + " [" + std::to_string(keys.size()) + "]: " + JoinLimited(keys, limit);
  };
  part("missing keys", missing);
  part("unexpected keys", unexpected);
  part("mis-shaped keys", misshaped);
  return msg;
}

void LoadStateDictFrom(torch::nn::Module& module, StateDict file, const std::string& name) {
  const StateDictMismatch m = CompareStateDict(module, file, name);
  if (!m.ok()) throw std::runtime_error("checkpoint '" + name + "' does not match the model (" + m.Summary() + ")");
  std::map<std::string, const torch::Tensor*> in_file;
  for (const auto& [key, t] : file) in_file[key] = &t;
  torch::NoGradGuard no_grad;
  for (const auto& [key, target] : ModuleStateDict(module)) {
    // Parameters and buffers are shared tensors: copy_ writes into the module's own storage.
    target.copy_(*in_file[key]);
  }
}

void LoadStateDict(torch::nn::Module& module, const std::string& path, const CheckpointOptions& options) {
  LoadStateDictFrom(module, ReadStateDict(path, options), path);
}

void SaveStateDict(const torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [key, t] : ModuleStateDict(module)) {
    dict.insert(key, t.detach().to(torch::kCPU).contiguous());
  }
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("checkpoint '" + path + "': cannot open for writing");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("checkpoint '" + path + "': write failed");
}

}  // namespace wtserve::nn
