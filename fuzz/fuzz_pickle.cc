// The pickle interpreter alone: the input becomes data.pkl of a valid archive that also holds
// storage records data/0 .. data/3 (16 bytes each), so mutations reach the interpreter instead
// of failing the zip container's checksums.
#include <stdexcept>
#include <string>

#include <caffe2/serialize/inline_container.h>

#include "fuzz/fuzz_target.h"
#include "server/nn/models/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string archive;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&archive](const void* bytes, size_t n) {
      archive.append(static_cast<const char*>(bytes), n);
      return n;
    });
    writer.writeRecord("data.pkl", data, size);
    const std::string storage(16, '\x01');
    for (const char* name : {"data/0", "data/1", "data/2", "data/3"}) {
      writer.writeRecord(name, storage.data(), storage.size());
    }
    writer.writeEndOfFile();
  }
  try {
    wtserve::nn::ReadStateDictFromMemory(archive, "fuzz.pt");
  } catch (const std::runtime_error&) {
  }
  return 0;
}
