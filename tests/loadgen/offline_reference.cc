// offline_reference MODEL_DIR VERSION SAMPLES BATCH [CORRUPTION SEVERITY SEED]
//
// The offline side of the loadgen's accuracy check: classifies the first SAMPLES Fashion-MNIST
// test images (optionally corrupted exactly as the loadgen does: wtserve_corrupt with
// image_index = position) in batches of BATCH with the server's own code path
// (ReadModelConfig -> LoadModelForEvaluation -> tools::CountTop1: NormalizePixels, LoadedModel::Forward) on one
// thread, and prints "<correct> <total>". The server, run with --intra_op_threads=1 and fed the
// same batches, must agree exactly.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include "absl/strings/numbers.h"
#include "client/corrupt/corruptions.h"
#include "common/data/dataset.h"
#include "server/runtime/model_config.h"
#include "server/runtime/model_loader.h"
#include "server/tools/accuracy.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "offline_reference: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 8) {
    return Fail("usage: offline_reference MODEL_DIR VERSION SAMPLES BATCH [CORRUPTION SEVERITY SEED]");
  }
  int64_t version = 0, samples = 0, batch = 0, severity = 0;
  uint64_t seed = 0;
  if (!absl::SimpleAtoi(argv[2], &version) || !absl::SimpleAtoi(argv[3], &samples) ||
      !absl::SimpleAtoi(argv[4], &batch) || batch < 1 ||
      (argc == 8 && (!absl::SimpleAtoi(argv[6], &severity) || !absl::SimpleAtoi(argv[7], &seed)))) {
    return Fail("bad number");
  }
  const std::string corruption = argc == 8 ? argv[5] : "";
  at::set_num_threads(1);
  auto cfg = wtserve::runtime::ReadModelConfig(argv[1]);
  if (!cfg.ok()) return Fail(std::string(cfg.status().message()));
  auto model = wtserve::runtime::LoadModelForEvaluation(*cfg, argv[1], version, nullptr);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  auto data = wtserve::data::ReadFashionMnist(wtserve::data::kFashionMnistDir, wtserve::data::Split::kTest);
  if (!data.ok()) return Fail(std::string(data.status().message()));
  samples = std::min<int64_t>(samples, data->size());

  wtserve::tools::PixelData test{at::empty({samples, 1, 28, 28}, at::kByte), at::empty({samples}, at::kLong)};
  for (int64_t i = 0; i < samples; ++i) {
    cv::Mat image = data->images[static_cast<size_t>(i)];
    if (!corruption.empty()) {
      auto corrupted =
          wtserve::corrupt::Corrupt(image, corruption, static_cast<int>(severity), seed, static_cast<uint64_t>(i));
      if (!corrupted.ok()) return Fail(std::string(corrupted.status().message()));
      image = *corrupted;
    }
    std::memcpy(test.pixels[i].data_ptr<uint8_t>(), image.data, 28 * 28);
    test.labels[i] = data->labels[static_cast<size_t>(i)];
  }
  auto counts = wtserve::tools::CountTop1(test, cfg->input_preprocessing(), cfg->output(0).dims(0), batch,
                                          [&](const at::Tensor& x) { return (*model)->Forward(x); });
  if (!counts.ok()) return Fail(std::string(counts.status().message()));
  std::printf("%lld %lld\n", static_cast<long long>(counts->correct), static_cast<long long>(counts->total));
  return 0;
}
