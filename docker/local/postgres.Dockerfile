# TEST-ONLY stand-in for pgvector/pgvector:0.8.0-pg16: PostgreSQL 16 with pgvector 0.6.2 from
# the pgserver wheel, and the official postgres image's contract (POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, scripts in /docker-entrypoint-initdb.d/ on first start).
ARG BASE=scribeflow-local/bookworm:12
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 999 postgres \
    && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d \
    && chown -R postgres /var/lib/postgresql
RUN --mount=type=secret,id=ca_bundle,mode=0444 \
    if [ -f /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && python3 -m venv /opt/pgserver \
    && /opt/pgserver/bin/pip install --no-cache-dir pgserver==0.1.4
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/opt/pgserver/lib/python3.11/site-packages/pgserver/pginstall/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
USER postgres
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
