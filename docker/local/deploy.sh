#!/usr/bin/env bash
# `make deploy` / `make deploy-down`: the compose stack on this machine, for real.
#   up    install Docker and Compose if missing, start the engine, build the stand-in bases
#         (docker/local/compose.yaml) and the CPU image from ./Dockerfile, start the stack on
#         embedded defaults and wait until every service is healthy; the last two lines are
#         `UI: http://127.0.0.1:PORT` and `login: USER PASSWORD`.
#   down  stop the stack and remove its containers and volumes (the images stay, as a cache),
#         and the engine when `up` started it.
# Settings: .env (made on first use, with a random JWT secret), SCRIBEFLOW_UI_PORT (8080).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
STATE=$ROOT/.deploy
BIN=$ROOT/.venv/bin
COMPOSE=("$BIN/docker-compose" -p scribeflow -f docker-compose.yaml -f docker/local/compose.yaml)
BASE=scribeflow-local/bookworm:12
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
export SCRIBEFLOW_UI_PORT=${SCRIBEFLOW_UI_PORT:-8080}
say() { echo "deploy: $*" >&2; }

install_tools() {
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
        say "installing docker.io and debootstrap"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io debootstrap >/dev/null
    fi
}

start_engine() {
    docker info >/dev/null 2>&1 && return
    mkdir -p "$STATE"
    say "starting dockerd (no bridge: every service is on the host's network)"
    $SUDO dockerd --bridge=none --iptables=false >"$STATE/dockerd.log" 2>&1 &
    local pid=$!
    echo $pid >"$STATE/dockerd.pid"
    for _ in $(seq 120); do
        docker info >/dev/null 2>&1 && return
        kill -0 $pid 2>/dev/null || break
        sleep 0.5
    done
    say "dockerd did not start; the end of $STATE/dockerd.log:"
    tail -5 "$STATE/dockerd.log" | tr -d '\0' >&2
    exit 1
}

base_image() {
    docker image inspect "$BASE" >/dev/null 2>&1 && return
    say "building $BASE with debootstrap (no registry is reachable)"
    local rootfs
    rootfs=$(mktemp -d /var/tmp/scribeflow-rootfs.XXXXXX)
    $SUDO debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    $SUDO tar -C "$rootfs" -c . | docker import - "$BASE" >/dev/null
    $SUDO rm -rf "$rootfs"
}

torch_wheel() {
    compgen -G "docker/wheels/torch-*.whl" >/dev/null && return
    # the machine's CPU build (pip's find-links), not PyPI's CUDA build
    "$BIN/pip" download -q --no-deps --only-binary=:all: -d docker/wheels \
        "$(grep -E '^torch==' requirements.txt)"
}

env_file() {
    [ -f .env ] && return
    say "writing .env (a random JWT secret; edit it to configure the stack)"
    umask 077
    printf 'AIRFLOW_JWT_SECRET=%s\n' "$("$BIN/python" -c 'import secrets; print(secrets.token_hex(32))')" >.env
}

login() {
    local file=/opt/airflow/auth/passwords.json
    for _ in $(seq 30); do
        if "${COMPOSE[@]}" exec -T airflow-apiserver test -s "$file" 2>/dev/null; then
            "${COMPOSE[@]}" exec -T airflow-apiserver python -c \
                "import json; print(*next(iter(json.load(open('$file')).items())))"
            return
        fi
        sleep 1
    done
    say "the api-server wrote no password file ($file)"
    exit 1
}

up() {
    install_tools
    start_engine
    base_image
    torch_wheel
    env_file
    mkdir -p media
    # the bases, then the CPU image once (every Airflow service runs it)
    "${COMPOSE[@]}" build airflow-base >&2
    "${COMPOSE[@]}" build postgres redis airflow-init >&2
    if ! "${COMPOSE[@]}" up -d --no-build --wait --wait-timeout 600 >&2; then
        "${COMPOSE[@]}" ps -a >&2
        say "the stack did not become healthy; see: ${COMPOSE[*]} logs"
        exit 1
    fi
    echo "UI: http://127.0.0.1:$SCRIBEFLOW_UI_PORT"
    echo "login: $(login)"
}

down() {
    if docker info >/dev/null 2>&1; then
        "${COMPOSE[@]}" down --volumes --remove-orphans >&2
    fi
    if [ -f "$STATE/dockerd.pid" ]; then
        local pid
        pid=$(cat "$STATE/dockerd.pid")
        say "stopping the dockerd that deploy started"
        $SUDO kill "$pid" 2>/dev/null || true
        for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        rm -f "$STATE/dockerd.pid"
    fi
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
