# TEST-ONLY stand-in for redis:7.2-bookworm: Debian bookworm's redis-server (7.0).
ARG BASE=scribeflow-local/bookworm:12
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
USER redis
CMD ["redis-server", "--save", "", "--appendonly", "no"]
