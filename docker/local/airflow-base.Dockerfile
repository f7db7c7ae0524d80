# TEST-ONLY stand-in for apache/airflow:3.3.2-python3.11, which cannot be pulled on a machine
# without Docker Hub: Debian bookworm's Python 3.11 in a venv on PATH, the user airflow
# (50000:0), AIRFLOW_HOME=/opt/airflow and the official entrypoint's rule (its arguments are
# an airflow subcommand, unless they start with bash or python). Airflow and the rest come
# from requirements.txt in the project's Dockerfile, as they do on the official base.
ARG BASE=scribeflow-local/bookworm:12
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv curl dumb-init \
       ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 --gid 0 airflow \
    && python3 -m venv /home/airflow/.local \
    && mkdir -p /opt/airflow \
    && chown -R airflow:0 /opt/airflow /home/airflow
COPY airflow-entrypoint.sh /entrypoint
ENV PATH=/home/airflow/.local/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_USER_HOME_DIR=/home/airflow
USER airflow
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD ["--help"]
