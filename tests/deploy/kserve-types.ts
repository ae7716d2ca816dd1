// TypeScript shapes of the KServe resources wtserve's example uses, for the offline manifest check
// (no npm package ships KServe's schemas). Written from the KServe API reference
// (https://kserve.github.io/website/docs/reference/crd-api, serving.kserve.io v1alpha1
// ServingRuntime and v1beta1 InferenceService); only the fields a wtserve deployment plausibly
// sets are listed, so a misspelled or unsupported field fails `tsc --strict` instead of being
// silently dropped by the API server. Kubernetes-native parts reuse kubernetes-models' types.
import { IObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import { IContainer } from "kubernetes-models/v1/Container";
import { IPodSpec } from "kubernetes-models/v1/PodSpec";

type ProtocolVersion = "v1" | "v2" | "grpc-v1" | "grpc-v2";

export interface ISupportedModelFormat {
  name: string;
  version?: string;
  autoSelect?: boolean;
  priority?: number;
}

export interface IServingRuntimeSpec {
  supportedModelFormats: ISupportedModelFormat[];
  protocolVersions?: ProtocolVersion[];
  multiModel?: boolean;
  disabled?: boolean;
  annotations?: { [key: string]: string };
  labels?: { [key: string]: string };
  containers: IContainer[];
  volumes?: IPodSpec["volumes"];
  nodeSelector?: IPodSpec["nodeSelector"];
  tolerations?: IPodSpec["tolerations"];
  affinity?: IPodSpec["affinity"];
  imagePullSecrets?: IPodSpec["imagePullSecrets"];
  grpcEndpoint?: string;
  grpcDataEndpoint?: string;
  httpDataEndpoint?: string;
  replicas?: number;
}

export interface IServingRuntime {
  apiVersion: "serving.kserve.io/v1alpha1";
  kind: "ServingRuntime";
  metadata: IObjectMeta;
  spec: IServingRuntimeSpec;
}

export interface IModelFormat {
  name: string;
  version?: string;
}

export type IModelSpec = Partial<IContainer> & {
  modelFormat: IModelFormat;
  runtime?: string;
  protocolVersion?: ProtocolVersion;
  storageUri?: string;
  runtimeVersion?: string;
};

export interface IComponentExtensionSpec {
  minReplicas?: number;
  maxReplicas?: number;
  scaleTarget?: number;
  scaleMetric?: "cpu" | "memory" | "concurrency" | "rps";
  containerConcurrency?: number;
  timeout?: number;
  canaryTrafficPercent?: number;
  labels?: { [key: string]: string };
  annotations?: { [key: string]: string };
}

export type IPredictorSpec = Partial<IPodSpec> &
  IComponentExtensionSpec & {
    model?: IModelSpec;
  };

export interface IInferenceService {
  apiVersion: "serving.kserve.io/v1beta1";
  kind: "InferenceService";
  metadata: IObjectMeta;
  spec: {
    predictor: IPredictorSpec;
  };
}
