"""Static checks of the Docker image and compose deployment (no Docker engine here), and
that they stay in step with requirements.txt."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
REQUIREMENTS = dict(
    re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)$", line).groups()
    for line in (ROOT / "requirements.txt").read_text().splitlines()
    if re.match(r"^[A-Za-z].*==", line)
)
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))
DOCKERFILELINT = ROOT / ".tools" / "node_modules" / ".bin" / "dockerfilelint"


def validate_compose(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True)


def test_compose_file_follows_the_compose_specification():
    result = validate_compose(ROOT / "docker-compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_compose_file_is_caught(tmp_path):
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  web:\n    image: x\n    ports: {80: 80}\n    restart: sometimes\n")
    assert validate_compose(broken).returncode != 0


def test_dockerfile_passes_the_linter():
    assert DOCKERFILELINT.exists(), "dockerfilelint missing: run `make testdeps`"
    result = subprocess.run([str(DOCKERFILELINT), str(ROOT / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_image_matches_requirements():
    assert REQUIREMENTS["apache-airflow"] == re.search(r"ARG AIRFLOW_VERSION=(\S+)", DOCKERFILE)[1]
    assert REQUIREMENTS["celery[redis]"] == "5.6.3"
    assert "torch" in REQUIREMENTS
    installs = re.findall(r"pip install[^\n]*(?:\\\n[^\n]*)*-r /opt/airflow/requirements.txt",
                          DOCKERFILE)
    assert len(installs) == 2, "both images install requirements.txt"
    assert "download.pytorch.org/whl/cpu" in DOCKERFILE and "whl/cu124" in DOCKERFILE
    assert "cudnn" in re.search(r"FROM (nvidia/cuda:\S+)", DOCKERFILE)[1]


def test_images_run_as_non_root_and_bake_no_secret():
    stages = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]
    assert len(stages) == 2
    for stage in stages:
        users = re.findall(r"^USER (\S+)", stage, re.MULTILINE)
        assert users and users[-1] == "airflow"
    instructions = "\n".join(x for x in DOCKERFILE.splitlines() if not x.startswith("#"))
    assert not re.search(r"AIRFLOW_CONN_|OPENAI_API_KEY|PASSWORD|sk-", instructions)
    assert re.search(r"^\.env$", (ROOT / ".gitignore").read_text(), re.MULTILINE)
    assert "AIRFLOW_CONN_OPENAI_DEFAULT" in (ROOT / ".env.example").read_text()


def test_compose_topology():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
            "airflow-worker-gpu"} <= set(services)
    for name, service in services.items():
        if service.get("restart") != "no":  # one-shot set-up jobs end; services stay healthy
            assert "healthcheck" in service, f"{name} has no healthcheck"
    assert "--queues default" in services["airflow-worker"]["command"]
    gpu = services["airflow-worker-gpu"]
    assert "--queues cuda --concurrency 1" in gpu["command"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["build"]["target"] == "cuda"
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    init = ROOT / "docker" / "postgres-init" / "10-scribeflow.sh"
    assert "CREATE EXTENSION IF NOT EXISTS vector" in init.read_text()
    env = COMPOSE["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "redis" in env["AIRFLOW__CELERY__BROKER_URL"]
    from scribeflow.hosts.airflow_home import SCHEDULER_IDLE_SLEEP_S, airflow_env

    idle = f"${{AIRFLOW_SCHEDULER_IDLE_SLEEP_TIME:-{SCHEDULER_IDLE_SLEEP_S}}}"
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] == idle  # as `make up` runs
    assert airflow_env()["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] == SCHEDULER_IDLE_SLEEP_S
    assert not any("sk-" in str(v) for v in env.values())


def test_object_storage_is_an_option_of_the_compose_file():
    """The S3-compatible store and its bucket come with the ``s3`` profile only; the data
    folder is a setting, so workers on other hosts can point at the bucket."""
    services = COMPOSE["services"]
    assert services["s3"]["profiles"] == ["s3"] and services["s3-init"]["profiles"] == ["s3"]
    assert "mc mb --ignore-existing local/scribeflow" in services["s3-init"]["command"][1]
    assert services["s3-init"]["depends_on"]["s3"]["condition"] == "service_healthy"
    assert COMPOSE["x-airflow-common"]["environment"]["SCRIBEFLOW_DATA"] == (
        "${SCRIBEFLOW_DATA:-/opt/airflow/data}")
    example = (ROOT / ".env.example").read_text()
    assert "# SCRIBEFLOW_DATA=s3://scribeflow/data" in example
    assert '"endpoint_url": "http://s3:9000"' in example


def test_compose_mounts_the_sources_file_for_every_airflow_service():
    common = COMPOSE["x-airflow-common"]
    mount = "./include/channels.yaml:/opt/airflow/include/channels.yaml:ro"
    assert mount in common["volumes"]
    assert common["environment"]["SCRIBEFLOW_CHANNELS"] == "/opt/airflow/include/channels.yaml"
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                 "airflow-worker-gpu"):
        assert mount in COMPOSE["services"][name].get("volumes", common["volumes"]), name
    init = " ".join(COMPOSE["services"]["airflow-init"]["command"])
    for pool in ("llm", "downloads", "downloads_youtube"):
        assert f"airflow pools set {pool} " in init
    assert "youtube.com=downloads_youtube" in common["environment"]["SCRIBEFLOW_DOWNLOAD_POOLS"]


def test_ytdlp_upgrades_without_a_code_change():
    stages = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]
    for stage in stages:
        assert re.search(r"^ARG YT_DLP_VERSION$", stage, re.MULTILINE)
        assert re.search(r'pip install [^\n]*"yt-dlp==\$YT_DLP_VERSION"', stage)
    assert re.search(r"^yt-dlp==\d{4}\.\d{2}\.\d{2}$", (ROOT / "requirements.txt").read_text(),
                     re.MULTILINE)


def test_each_worker_host_has_a_model_host_its_tasks_reach():
    """Every worker shares a volume with a model host of its own image (the socket and the
    scratch folders) and names its socket; the host is healthy only when it answers."""
    services = COMPOSE["services"]
    for worker, host in (("airflow-worker", "model-host"),
                         ("airflow-worker-gpu", "model-host-gpu")):
        w, h = services[worker], services[host]
        shared = {v for v in w["volumes"] if v.endswith(":/run/scribeflow")}
        assert shared and shared <= set(h["volumes"]), (worker, host)
        assert "scribeflow-data:/opt/airflow/data" in h["volumes"]
        for service in (w, h):
            assert service["environment"]["SCRIBEFLOW_MODEL_HOST"] == "/run/scribeflow/models.sock"
            assert service["environment"]["SCRIBEFLOW_WORKDIR"] == "/run/scribeflow/work"
        assert h.get("image") == w.get("image") and h["build"]["target"] == w["build"].get(
            "target", "cpu")
        assert h["entrypoint"][-3:] == ["python", "-m", "scribeflow.cli.main"]
        assert h["command"] == "models serve --preload"
        assert h["healthcheck"]["test"][-2:] == ["models", "status"]
        assert w["depends_on"][host]["condition"] == "service_healthy"
    gpu = services["model-host-gpu"]
    assert gpu["environment"]["SCRIBEFLOW_WHISPER_DEVICE"] == "cuda"
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "/usr/bin/tini" in gpu["entrypoint"] and "ENTRYPOINT [\"/usr/bin/tini\"" in DOCKERFILE


DOCKER_COMPOSE = str(Path(sys.executable).with_name("docker-compose"))
LOCAL = ROOT / "docker" / "local" / "compose.yaml"


def compose_config(*files: Path, profiles: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``docker-compose config`` (Compose v2 itself) on ``files``, with only the one required
    setting and no .env of the checkout's."""
    import os
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".env") as env_file:
        args = [DOCKER_COMPOSE, "--project-directory", str(ROOT), "--env-file", env_file.name]
        args += [a for f in files for a in ("-f", str(f))]
        args += [a for p in profiles for a in ("--profile", p)] + ["config", "--format", "json"]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SCRIBEFLOW_", "S3_", "AIRFLOW", "POSTGRES_"))}
        return subprocess.run(args, capture_output=True, text=True, timeout=60,
                              env=env | {"AIRFLOW_JWT_SECRET": "x" * 32})


def test_compose_resolves_without_the_settings_of_a_profile_not_in_use():
    """S3_SECRET_KEY is needed by the s3 profile only: a stack without it still resolves
    (a required variable there stopped every `docker compose` command)."""
    plain = compose_config(ROOT / "docker-compose.yaml")
    assert plain.returncode == 0, plain.stderr
    with_s3 = compose_config(ROOT / "docker-compose.yaml", profiles=("s3",))
    assert with_s3.returncode == 0, with_s3.stderr
    command = json.loads(with_s3.stdout)["services"]["s3"]["command"]
    assert "set S3_SECRET_KEY in .env" in " ".join(command)


def test_workers_read_local_files_from_media_and_volumes_start_writable():
    services = COMPOSE["services"]
    for name in ("airflow-worker", "airflow-worker-gpu", "model-host", "model-host-gpu"):
        assert "./media:/media:ro" in services[name]["volumes"], name
    for stage in re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]:
        for folder in ("/opt/airflow/data", "/opt/airflow/models", "/opt/airflow/logs",
                       "/opt/airflow/auth", "/run/scribeflow"):
            assert re.search(rf"mkdir -p [^\n]*{folder}\b", stage.replace("\\\n", " ")), folder
    api = services["airflow-apiserver"]
    assert "airflow-auth:/opt/airflow/auth" in api["volumes"]
    assert api["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == (
        "/opt/airflow/auth/passwords.json")
    # the whisper model is the deployment's setting for every service, not a GPU-host default
    assert "SCRIBEFLOW_WHISPER_MODEL" not in services["model-host-gpu"]["environment"]


def test_the_local_stack_replaces_only_what_a_registry_would_give():
    """docker/local/compose.yaml (test-only): registry images become stand-ins, everything is
    on the host's network away from the machine's own PostgreSQL and Redis ports, and the
    GPU services run the CPU image; the production file keeps the real images."""
    merged = compose_config(ROOT / "docker-compose.yaml", LOCAL)
    assert merged.returncode == 0, merged.stderr
    services = json.loads(merged.stdout)["services"]
    images = {name: s["image"] for name, s in services.items()}
    assert images.pop("airflow-base") == "scribeflow-local/airflow:3.3.2-python3.11"
    assert images.pop("postgres") == "scribeflow-local/postgres:16-pgvector"
    assert images.pop("redis") == "scribeflow-local/redis:7.0"
    assert set(images.values()) == {"scribeflow:cpu"}, images
    for name, service in services.items():
        if name != "airflow-base":
            assert service["network_mode"] == "host" and not service.get("ports"), name
        assert "deploy" not in service or not service["deploy"].get("resources"), name
        env = service.get("environment") or {}
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL"):
            if key in env:
                assert ":5432/" not in env[key] and ":6379/" not in env[key], (name, key)
    assert services["airflow-worker-gpu"]["command"][:4] == ["celery", "worker", "--queues", "cuda"]
    assert services["model-host-gpu"]["environment"]["SCRIBEFLOW_WHISPER_DEVICE"] == "cpu"
    build = services["airflow-worker"]["build"]
    assert build["args"] == {"AIRFLOW_IMAGE": "scribeflow-local/airflow", "TORCH_INDEX": ""}
    production = COMPOSE["services"]
    assert production["postgres"]["image"].startswith("pgvector/pgvector:")
    assert production["redis"]["image"].startswith("redis:")
    assert re.search(r"^ARG AIRFLOW_IMAGE=apache/airflow$", DOCKERFILE, re.MULTILINE)


def test_pip_in_the_image_builds_trusts_a_ca_bundle_given_as_a_build_secret():
    steps = DOCKERFILE.replace("\\\n", " ").splitlines()
    pip = [step for step in steps if step.startswith("RUN ") and "pip install" in step]
    assert len(pip) == 4, pip  # requirements and yt-dlp, in each image
    for step in pip:
        assert "--mount=type=secret,id=ca_bundle" in step
        assert "export PIP_CERT=/run/secrets/ca_bundle" in step
    assert "COPY" not in " ".join(line for line in DOCKERFILE.splitlines() if "ca-cert" in line)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1:][:5] == ["!requirements.txt", "!dags/", "!plugins/",
                                                    "!include/", "!docker/wheels/"]
