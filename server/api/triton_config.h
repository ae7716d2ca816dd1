// wtserve's model configuration (config.pbtxt, package wtserve.config) as Triton's ModelConfig
// message (proto/triton_model_config.proto: Triton's field numbers and enum values), the answer
// of the ModelConfig RPC that Triton clients such as perf_analyzer call before they send load.
//
// Mapping: name, platform, default_model_filename, max_batch_size, version_policy and
// instance_group carry over as they are; inputs and outputs get Triton's DataType numbering, and
// pixel inputs FORMAT_NCHW ([C, H, W]); an encoded-image (TYPE_STRING) input is reported with
// dims [1], the [N, 1] BYTES form requests may use; dynamic_batching's max_queue_size and
// default_timeout_microseconds go to its default_queue_policy. backend is "wtserve".
// architecture, input_preprocessing and optimization, which Triton has no field for, are in
// `parameters` under their own names, each as single-line protobuf text of the wtserve.config
// message.
#ifndef WTSERVE_SERVER_API_TRITON_CONFIG_H_
#define WTSERVE_SERVER_API_TRITON_CONFIG_H_

#include "model_config.pb.h"
#include "triton_model_config.pb.h"

namespace wtserve::api {

inference::ModelConfig ToTritonModelConfig(const config::ModelConfig& config);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_TRITON_CONFIG_H_
