#!/bin/bash
# The official Airflow image's rule: bash or python run as given, anything else is an
# airflow subcommand (`command: scheduler` runs `airflow scheduler`).
case "${1:-}" in
    bash | python | sh) exec "$@" ;;
    *) exec airflow "$@" ;;
esac
