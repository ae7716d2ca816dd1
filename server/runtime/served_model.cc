#include "server/runtime/served_model.h"

#include <algorithm>
#include <utility>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log/log.h"
#include "server/metrics/server_metrics.h"
#include "server/runtime/model_config.h"

#ifdef WTSERVE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace wtserve::runtime {

#ifdef WTSERVE_WITH_CUDA
struct ServedModel::Streams {
  // One stream per GPU instance, so that instances on one GPU overlap their kernels.
  std::vector<std::optional<c10::cuda::CUDAStream>> per_instance;
};
#else
struct ServedModel::Streams {};
#endif

namespace {

// Whether `network` runs on one zero image of side x side pixels.
absl::Status RunsAtSide(const LoadedModel& network, int64_t channels, int64_t side) {
  return network.Forward(at::zeros({1, channels, side, side})).status();
}

// For [C, -1, -1] inputs: finds min_side when the config leaves it 0 (the smallest side the
// network runs on: doubling, then bisection, assuming that a convolutional network that runs at
// s also runs at every larger side) or checks the configured one, then gives the warmups
// without dims [C, min_side, min_side].
absl::Status ResolveVariableInput(config::ModelConfig& cfg, const LoadedModel& network) {
  config::ModelInput& in = *cfg.mutable_input(0);
  if (!HasVariableSpatialDims(in)) return absl::OkStatus();
  const int64_t channels = in.dims(0);
  if (in.min_side() > 0) {
    if (absl::Status s = RunsAtSide(network, channels, in.min_side()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(cfg.name(), ": input[0].min_side ", in.min_side(),
                                                     ": the network does not run on ", in.min_side(), " x ",
                                                     in.min_side(), " images (", s.message(), "); raise min_side"));
    }
  } else {
    int64_t fails = 0;  // the largest side known not to run (0: none tried)
    int64_t runs = 1;
    absl::Status last;
    while (!(last = RunsAtSide(network, channels, runs)).ok()) {
      if (runs == in.max_side()) {
        return absl::InvalidArgumentError(
            absl::StrCat(cfg.name(), ": input[0] dims [C, -1, -1]: the network runs on no side up to max_side ",
                         in.max_side(), " (at ", runs, ": ", last.message(), ")"));
      }
      fails = runs;
      runs = std::min(runs * 2, in.max_side());
    }
    while (runs - fails > 1) {
      const int64_t mid = fails + (runs - fails) / 2;
      (RunsAtSide(network, channels, mid).ok() ? runs : fails) = mid;
    }
    in.set_min_side(runs);
    logging::LogInfo(cfg.name(), ": input [", channels, ", -1, -1]: the network runs on sides down to ", runs,
                     " (found at load); serving sides ", runs, "..", in.max_side());
  }
  for (config::ModelWarmup& warmup : *cfg.mutable_model_warmup()) {
    if (!warmup.dims().empty()) continue;
    warmup.add_dims(channels);
    warmup.add_dims(in.min_side());
    warmup.add_dims(in.min_side());
  }
  // Warmup dims were checked against max_side only; now that min_side is known, check again.
  for (const config::ModelWarmup& warmup : cfg.model_warmup()) {
    if (absl::Status s = CheckSpatialSize(in, warmup.dims(1), warmup.dims(2)); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(cfg.name(), ": model_warmup \"", warmup.name(), "\": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServedModel>> ServedModel::Create(config::ModelConfig cfg, LoadedVersion loaded,
                                                                 metrics::ServerMetrics* metrics) {
  if (loaded.networks.empty()) {
    return absl::InternalError(absl::StrCat(cfg.name(), ": the loaded version has no network"));
  }
  if (absl::Status s = ResolveVariableInput(cfg, *loaded.networks.front()); !s.ok()) return s;
  std::unique_ptr<ServedModel> model(new ServedModel(std::move(cfg), std::move(loaded), metrics));
  const config::ModelConfig& c = model->cfg_;
  DynamicBatcherOptions options;
  options.model_name = c.name();
  options.max_batch_size = c.max_batch_size();
  for (int32_t size : c.dynamic_batching().preferred_batch_size()) {
    options.preferred_batch_sizes.push_back(size);
  }
  options.max_queue_delay = absl::Microseconds(c.dynamic_batching().max_queue_delay_microseconds());
  options.max_queue_size = static_cast<int64_t>(c.dynamic_batching().max_queue_size());
  options.default_queue_timeout = absl::Microseconds(c.dynamic_batching().default_timeout_microseconds());
  options.instance_count = static_cast<int>(model->loaded_.instance_network.size());
#ifdef WTSERVE_WITH_CUDA
  for (int i = 0; i < options.instance_count; ++i) {
    const c10::Device device = model->loaded_.networks[model->loaded_.instance_network[i]]->device();
    model->streams_->per_instance.push_back(
        device.is_cuda() ? std::optional<c10::cuda::CUDAStream>(c10::cuda::getStreamFromPool(false, device.index()))
                         : std::nullopt);
  }
#endif
  ServedModel* raw = model.get();
  absl::StatusOr<std::unique_ptr<DynamicBatcher>> batcher = DynamicBatcher::Create(
      options, [raw](int instance, const at::Tensor& batch) { return raw->Execute(instance, batch); }, raw);
  if (!batcher.ok()) {
    return absl::Status(batcher.status().code(),
                        absl::StrCat(c.name(), ": dynamic_batching: ", batcher.status().message()));
  }
  model->batcher_ = *std::move(batcher);
  return model;
}

ServedModel::ServedModel(config::ModelConfig cfg, LoadedVersion loaded, metrics::ServerMetrics* metrics)
    : cfg_(std::move(cfg)),
      loaded_(std::move(loaded)),
      version_string_(std::to_string(loaded_.version)),
      metrics_(metrics),
      stats_(metrics, cfg_.name(), version_string_),
      streams_(std::make_unique<Streams>()) {}

ServedModel::~ServedModel() {
  if (batcher_) batcher_->Shutdown();
}

absl::Status ServedModel::Warmup() {
  for (const config::ModelWarmup& warmup : cfg_.model_warmup()) {
    const auto& dims = warmup.dims();  // filled by validation and Create
    const at::Tensor images = at::zeros({warmup.batch_size(), dims[0], dims[1], dims[2]});
    for (const auto& network : loaded_.networks) {
      for (int i = 0; i < warmup.count(); ++i) {
        absl::StatusOr<at::Tensor> logits = network->Forward(images);
        if (!logits.ok()) {
          return absl::InternalError(absl::StrCat("model_warmup \"", warmup.name(), "\" on ", network->device().str(),
                                                  ": ", logits.status().message()));
        }
      }
    }
  }
  UpdateGpuMemory();
  return absl::OkStatus();
}

absl::Status ServedModel::Enqueue(std::unique_ptr<InferenceRequest>* request) {
  if (request == nullptr || *request == nullptr) return absl::InvalidArgumentError("no request");
  const absl::Time received = (*request)->received;
  stats_.Accepted();
  absl::Status status = batcher_->Enqueue(request);
  if (!status.ok()) stats_.Refused(status, absl::Now() - received);
  return status;
}

void ServedModel::OnRequestAnswered(const InferenceRequest& request, const absl::Status& reply_status,
                                    const RequestTimings& timings) {
  stats_.Answered(reply_status, request.elements(), absl::Now() - request.received, timings);
}

void ServedModel::Shutdown(absl::Time drain_deadline) { batcher_->Shutdown(drain_deadline); }

void ServedModel::RecordRejected(absl::Duration request_time) { stats_.Rejected(request_time); }

ModelStatsSnapshot ServedModel::Stats() const { return stats_.Snapshot(); }

absl::StatusOr<at::Tensor> ServedModel::Execute(int instance, const at::Tensor& batch) {
  const LoadedModel& network = *loaded_.networks[loaded_.instance_network[instance]];
#ifdef WTSERVE_WITH_CUDA
  if (network.device().is_cuda()) {
    c10::cuda::CUDAStreamGuard guard(*streams_->per_instance[instance]);
    absl::StatusOr<at::Tensor> logits = network.Forward(batch);
    UpdateGpuMemory();
    return logits;
  }
#endif
  return network.Forward(batch);
}

void ServedModel::OnQueueDepthChanged(int64_t queued_requests, int64_t queued_elements) {
  stats_.QueueDepth(queued_requests);
}

void ServedModel::OnBatchExecuted(const ExecutedBatch& batch) {
  stats_.BatchExecuted(batch.batch_size, batch.compute_time);
}

void ServedModel::UpdateGpuMemory() {
#ifdef WTSERVE_WITH_CUDA
  for (const auto& network : loaded_.networks) {
    if (!network->device().is_cuda()) continue;
    const int device = network->device().index();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
    // Index 0 is StatType::AGGREGATE (all pools), whose namespace moved between LibTorch 1.13
    // and 2.x.
    metrics_->SetGpuMemoryUsed(device, static_cast<double>(stats.allocated_bytes[0].current));
  }
#endif
}

}  // namespace wtserve::runtime
