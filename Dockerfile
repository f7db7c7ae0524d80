# syntax=docker/dockerfile:1.7
# Scribeflow images. Two targets:
#   cpu  (default, the last stage) - the Airflow services and default Celery workers
#   cuda           - GPU Celery workers on queue "cuda" (CUDA 12 + cuDNN 9, as CTranslate2 4.x
#                    and faster-whisper need), float16 batched transcription
# Build: docker build --target cpu -t scribeflow:cpu .  /  docker build --target cuda -t scribeflow:cuda .
# No secret is baked in: connections come from AIRFLOW_CONN_* at run time (.env).

ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
# yt-dlp is pinned in requirements.txt for reproducible builds; video sites change often, so a
# newer one installs without a code change: docker compose build --build-arg YT_DLP_VERSION=2026.12.1
ARG YT_DLP_VERSION=

FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 AS cuda
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv ffmpeg \
       libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core tini \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && useradd --create-home --uid 50000 --gid 0 airflow \
    && mkdir -p /opt/airflow/data /opt/airflow/models && chown -R airflow:0 /opt/airflow
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /opt/airflow/requirements.txt
# torch's CUDA 12 wheels; CTranslate2's wheels already target CUDA 12 + cuDNN 9.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cu124 \
    -r /opt/airflow/requirements.txt
ARG YT_DLP_VERSION
RUN if [ -n "$YT_DLP_VERSION" ]; then pip install "yt-dlp==$YT_DLP_VERSION"; fi
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
USER airflow
WORKDIR /opt/airflow
ENV AIRFLOW_HOME=/opt/airflow \
    PYTHONPATH=/opt/airflow/plugins \
    SCRIBEFLOW_DATA=/opt/airflow/data \
    SCRIBEFLOW_PROMPTS=/opt/airflow/include/prompts \
    SCRIBEFLOW_WHISPER_DEVICE=cuda \
    HF_HOME=/opt/airflow/models/huggingface \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["celery", "worker", "--queues", "cuda", "--concurrency", "1"]

# The last stage is what a plain `docker build` makes: the CPU image.
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS cpu
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libpango-1.0-0 libpangoft2-1.0-0 \
       fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
USER airflow
COPY --chown=airflow:root requirements.txt /opt/airflow/requirements.txt
# torch comes from the CPU wheel index: the default Linux wheel drags in CUDA libraries.
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu \
    -r /opt/airflow/requirements.txt
ARG YT_DLP_VERSION
RUN if [ -n "$YT_DLP_VERSION" ]; then pip install --no-cache-dir "yt-dlp==$YT_DLP_VERSION"; fi
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
ENV PYTHONPATH=/opt/airflow/plugins \
    SCRIBEFLOW_DATA=/opt/airflow/data \
    SCRIBEFLOW_PROMPTS=/opt/airflow/include/prompts \
    HF_HOME=/opt/airflow/models/huggingface \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
