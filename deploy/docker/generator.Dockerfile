# Sorami generator: one process per GPU (`sorami-generator run`), competing consumers.
# Build from the repo root:  docker build -f deploy/docker/generator.Dockerfile -t sorami-generator .
#
# CUDA runtime base; torch comes from PyTorch's CUDA wheel index, pinned to the version the
# generator's pyproject pins (torch==2.13.0). Match TORCH_INDEX_URL to the base image's CUDA.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/models/hf

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

# torch first and alone, from the CUDA index: the layer is cached across code changes.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

WORKDIR /app
COPY shared /app/shared
COPY services/generator /app/services/generator
RUN pip install "/app/shared[s3]" /app/services/generator \
    && useradd --system --uid 10001 --home-dir /app sorami \
    && mkdir -p /models && chown sorami /models

USER sorami
VOLUME ["/models"]
ENTRYPOINT ["sorami-generator"]
CMD ["run"]
