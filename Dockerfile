# wtserve container images.
#
# Targets (docs/deploy.md has the full story and what was verified):
#   runtime (default, last stage)  CPU server on Debian 12 with Debian's LibTorch 1.13.
#   loadgen                        wtserve-loadgen plus the Fashion-MNIST test set, for the
#                                  Compose robustness job.
#   runtime-cuda                   CUDA server: a CUDA base image and a CUDA LibTorch 2.x. Written
#                                  to the same recipe but NOT built or run here (no registry, no
#                                  GPU on the machines this project is developed on).
#
#   podman build -t wtserve:cpu .                       (docker build works the same)
#   podman build --target loadgen -t wtserve-loadgen:cpu .
#   docker build --target runtime-cuda -t wtserve:cuda .
#
# Build arguments: DEBIAN_IMAGE (base of the CPU stages), JOBS (parallel compile jobs), and for
# the CUDA target CUDA_IMAGE, CUDA_RUNTIME_IMAGE, LIBTORCH_URL.

ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------------
# Build toolchain and -dev packages: the serving part of scripts/setup.sh's list (no test,
# benchmark or training packages). Its own stage so the slow apt layer is cached across builds.
FROM ${DEBIAN_IMAGE} AS build-deps
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build ccache pkg-config \
      libtorch-dev libopenblas0-pthread \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto \
      libabsl-dev prometheus-cpp-dev libopencv-dev zlib1g-dev nlohmann-json3-dev libcpp-httplib-dev \
 && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------------------------------------
FROM build-deps AS build
ARG JOBS=2
WORKDIR /src
# Only what the serving binaries need, so edits to docs, tests or deploy files keep the cache.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY common/ common/
COPY proto/ proto/
COPY server/ server/
COPY client/ client/
COPY deploy/health/ deploy/health/
COPY deploy/docker/runtime-packages.sh /usr/local/bin/
# ccache in a build cache mount (BuildKit and buildah keep it between builds, outside the image):
# a rebuild after a small source change recompiles only what changed. The build folder sits two
# levels below the sources like a developer's build/<name>, so with the project's CCACHE_BASEDIR
# the compile commands match theirs and a cache seeded from a host build hits
# (scripts/deploy-check.sh does that).
# ccache hashes LANG too; C.UTF-8 is what the project's machines use.
ENV CCACHE_DIR=/ccache LANG=C.UTF-8
RUN --mount=type=cache,target=/ccache,id=wtserve-ccache \
    cmake -S . -B build/image -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DWTSERVE_BUILD_TESTS=OFF -DWTSERVE_BUILD_BENCHMARKS=OFF \
 && cmake --build build/image -j "${JOBS}" --target wtserve wtserve-loadgen wtserve-health \
 && ccache --show-stats \
 && mkdir -p /out/bin \
 && cp build/image/server/wtserve build/image/client/loadgen/wtserve-loadgen \
       build/image/deploy/health/wtserve-health /out/bin/ \
 && strip /out/bin/* \
 && runtime-packages.sh /out/bin/* > /out/runtime-packages.txt \
 && cat /out/runtime-packages.txt

# ---------------------------------------------------------------------------------------------
# Runtime libraries only: the Debian packages that own the shared libraries the binaries load
# (computed in the build stage with ldd + dpkg -S), plus OpenBLAS, which takes over libblas.so.3
# and makes LibTorch's Linear layers ~20x faster than the reference BLAS.
FROM ${DEBIAN_IMAGE} AS runtime-base
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /tmp/
RUN apt-get update \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends \
      libopenblas0-pthread \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin wtserve

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS loadgen
RUN apt-get update \
 && apt-get install -y --no-install-recommends dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/wtserve-loadgen /usr/local/bin/
# Where reports go; owned by the runtime user so a fresh named volume mounted here is writable.
RUN mkdir /reports && chown 10001:10001 /reports
WORKDIR /reports
USER 10001:10001
ENTRYPOINT ["wtserve-loadgen"]
CMD ["--help"]

# ---------------------------------------------------------------------------------------------
# CUDA variant. Ubuntu 24.04 carries the same gRPC 1.51, protobuf 3.21 and abseil 20220623 as
# Debian 12; LibTorch comes from the official cxx11-ABI zip (the system gRPC/protobuf use the
# cxx11 ABI). Untested here: see docs/deploy.md.
FROM ${CUDA_IMAGE} AS build-cuda
ARG JOBS=4
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/cu126/libtorch-cxx11-abi-shared-with-deps-2.6.0%2Bcu126.zip
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config curl unzip ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto \
      libabsl-dev prometheus-cpp-dev libopencv-dev zlib1g-dev nlohmann-json3-dev libcpp-httplib-dev \
 && rm -rf /var/lib/apt/lists/* \
 && curl -fsSL -o /tmp/libtorch.zip "${LIBTORCH_URL}" \
 && unzip -q /tmp/libtorch.zip -d /opt \
 && rm /tmp/libtorch.zip
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY common/ common/
COPY proto/ proto/
COPY server/ server/
COPY client/ client/
COPY deploy/health/ deploy/health/
COPY deploy/docker/runtime-packages.sh /usr/local/bin/
RUN cmake -S . -B build/image -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH=/opt/libtorch \
      -DWTSERVE_BUILD_TESTS=OFF -DWTSERVE_BUILD_BENCHMARKS=OFF \
 && cmake --build build/image -j "${JOBS}" --target wtserve wtserve-health \
 && mkdir -p /out/bin \
 && cp build/image/server/wtserve build/image/deploy/health/wtserve-health /out/bin/ \
 && SKIP_DIRS=/opt/libtorch/lib ALLOW_MISSING="libcuda.so.1" LD_LIBRARY_PATH=/opt/libtorch/lib \
      runtime-packages.sh /out/bin/* > /out/runtime-packages.txt

FROM ${CUDA_RUNTIME_IMAGE} AS runtime-cuda
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build-cuda /out/runtime-packages.txt /tmp/
RUN apt-get update \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin wtserve
COPY --from=build-cuda /opt/libtorch/lib/ /opt/libtorch/lib/
COPY --from=build-cuda /out/bin/ /usr/local/bin/
COPY models/ /models/
ENV LD_LIBRARY_PATH=/opt/libtorch/lib
USER 10001:10001
EXPOSE 8000 8001 8002
# Shell form so the port follows WTSERVE_GRPC_PORT: set it (-e) when you run with --grpc_port.
ENV WTSERVE_GRPC_PORT=8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD wtserve-health --address="127.0.0.1:${WTSERVE_GRPC_PORT}" --timeout=4s
ENTRYPOINT ["wtserve"]
CMD ["--model_repository=/models"]

# ---------------------------------------------------------------------------------------------
# Default target: the CPU server. wtserve itself is PID 1: it handles SIGTERM (health goes
# NOT_SERVING, accepted requests finish within --exit_timeout, then exit 0), so no init is
# needed. Models are baked in at /models; mount a repository over /models to serve others.
FROM runtime-base AS runtime
COPY --from=build /out/bin/wtserve /out/bin/wtserve-health /usr/local/bin/
COPY models/ /models/
USER 10001:10001
EXPOSE 8000 8001 8002
# Shell form so the port follows WTSERVE_GRPC_PORT: set it (-e) when you run with --grpc_port.
ENV WTSERVE_GRPC_PORT=8001
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD wtserve-health --address="127.0.0.1:${WTSERVE_GRPC_PORT}" --timeout=4s
ENTRYPOINT ["wtserve"]
CMD ["--model_repository=/models"]
