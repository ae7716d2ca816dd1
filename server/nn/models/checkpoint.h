// State-dict checkpoints: read Python's torch.save(model.state_dict()) files (an OrderedDict of
// tensors in PyTorch's zip format, as the released WTConvNeXt .pth files are) without Python, and
// write checkpoints that Python's torch.load reads back with the same key names.
//
// Why not torch::pickle_load: LibTorch 1.13's unpickler turns `collections.OrderedDict` into
// None (it only expects it as a tensor's backward-hooks argument), so a state_dict fails with an
// internal assert, and its type resolver is never consulted for that global. We therefore run a
// small pickle interpreter restricted to what torch.save emits for tensor dicts (protocol 2-5
// opcodes, OrderedDict/dict, tensors via torch._utils._rebuild_tensor_v2 / _rebuild_parameter,
// typed storages) on top of LibTorch's own zip reader (caffe2::serialize::PyTorchStreamReader).
// Any other Python global is never called: an instance of it (argparse.Namespace in a training
// checkpoint, a numpy scalar) is kept as an opaque placeholder that may sit beside the weights
// but is refused inside them. Loading never executes code from the file.
//
// Supported: the zip format of torch.save (PyTorch >= 1.6, the default) and of
// torch::pickle_save, holding
//   - a flat state dict (str -> tensor), as the released WTConvNeXt files;
//   - a dict wrapping one under state_dict_ema, model_ema, state_dict or model (training
//     checkpoints; other entries such as epoch, optimizer or args are ignored); when several
//     hold state dicts, CheckpointOptions::entry picks one;
//   - keys that all start with "module." (DataParallel / DistributedDataParallel): stripped.
// Not supported: the legacy pre-1.6 format; the error says how to convert it.
#ifndef WTSERVE_SERVER_NN_MODELS_CHECKPOINT_H_
#define WTSERVE_SERVER_NN_MODELS_CHECKPOINT_H_

#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace wtserve::nn {

// Key -> tensor in file order.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

struct CheckpointOptions {
  // The top-level entry that holds the weights ("state_dict_ema", ...). Empty: the file itself
  // when it is a flat state dict, else the only wrapper entry (see above) that holds one.
  std::string entry;
};

// How ReadStateDict found the weights (for tools that explain a file).
struct CheckpointLayout {
  std::string entry;  // the wrapper entry used; empty: the file is a flat state dict
  bool stripped_module_prefix = false;
  std::vector<std::string> top_level;  // "key (what it holds)" for every top-level entry
};

// Reads the state dict of a checkpoint (see above for the layouts). Tensors come back on CPU
// with their saved dtype, shape and strides' values (contiguous copies), keys in file order.
// Throws std::runtime_error naming `path` when the file is missing, not a zip checkpoint (the
// legacy format is named as such), malformed, or holds no state dict where one was looked for;
// messages list the top-level entries and what each holds.
StateDict ReadStateDict(const std::string& path, const CheckpointOptions& options = {},
                        CheckpointLayout* layout = nullptr);
// The same for a checkpoint held in memory (the whole file's bytes); `name` stands for the path
// in error messages.
StateDict ReadStateDictFromMemory(const std::string& bytes, const std::string& name,
                                  const CheckpointOptions& options = {});

// The module's parameters and buffers in Python state_dict() order (module by module: own
// parameters, then own buffers). Frozen parameters are included.
StateDict ModuleStateDict(const torch::nn::Module& module);

// How a state dict's keys and shapes differ from a module's, after the fast_wtconv renaming
// (docs/models.md, "Checkpoints") that LoadStateDict applies too.
struct StateDictMismatch {
  size_t file_keys = 0, model_keys = 0;
  std::vector<std::string> missing, unexpected, misshaped;  // misshaped: "key (checkpoint [..], model [..])"
  bool ok() const { return missing.empty() && unexpected.empty() && misshaped.empty(); }
  // "182 keys in the file, 182 in the model; missing keys [2]: a, b; ..." (lists cut at `limit`).
  std::string Summary(size_t limit = 40) const;
};
// Compares (and translates `file` in place, as loading would). `name` names the file in errors.
StateDictMismatch CompareStateDict(const torch::nn::Module& module, StateDict& file, const std::string& name);

// LoadStateDict for a state dict already read; `name` stands for the file in messages.
void LoadStateDictFrom(torch::nn::Module& module, StateDict file, const std::string& name);

// Copies a checkpoint into `module` (dtypes converted to the module's). All keys must match
// exactly: otherwise throws std::runtime_error naming `path` and listing every missing,
// unexpected and mis-shaped key in one message; the module is left unchanged then.
void LoadStateDict(torch::nn::Module& module, const std::string& path, const CheckpointOptions& options = {});

// Writes ModuleStateDict(module) as a str -> tensor dict in PyTorch's zip format
// (torch::pickle_save); Python: torch.load(path) gives a dict with the same keys, and
// model.load_state_dict() accepts it. Throws std::runtime_error naming `path` on I/O errors.
void SaveStateDict(const torch::nn::Module& module, const std::string& path);

}  // namespace wtserve::nn

#endif  // WTSERVE_SERVER_NN_MODELS_CHECKPOINT_H_
