#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first created: a separate database for the
# vector store, with pgvector enabled. Airflow's metadata lives in the "airflow" database.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE ${SCRIBEFLOW_VECTOR_DB:-scribeflow};
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${SCRIBEFLOW_VECTOR_DB:-scribeflow}" <<SQL
CREATE EXTENSION IF NOT EXISTS vector;
SQL
