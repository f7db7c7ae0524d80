# Scribeflow: `make run` processes a video on embedded defaults, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SAMPLE := data/samples/lesson.mp4
URL ?= $(SAMPLE)
SAMPLE_TEXT := Welcome to this short lesson about the water cycle. The sun heats the ocean and \
	water rises into the sky as vapor. High in the air the vapor cools and forms clouds. When the \
	droplets grow heavy they fall back to the ground as rain or snow. Rivers carry the water back \
	to the sea, and the cycle begins again.

.PHONY: run test lint up evaluate bench sysdeps testdeps venv sample clean deploy deploy-down \
	test-docker requirements-venv

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -e .
	@touch $@

venv: $(VENV)/.installed

# ffmpeg decodes media; espeak-ng speaks test videos; pango lets WeasyPrint write PDFs;
# chromium drives the browser tests.
APT_RUNTIME := ffmpeg espeak-ng libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
sysdeps:
	@command -v ffmpeg >/dev/null && command -v espeak-ng >/dev/null && \
		ldconfig -p | grep -q libpangoft2-1.0 || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_RUNTIME) >/dev/null; }

testdeps: sysdeps
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@test -x .tools/node_modules/.bin/dockerfilelint || { \
		command -v npm >/dev/null || $(SUDO) apt-get install -y -qq npm >/dev/null; \
		npm install --silent --no-save --no-audit --no-fund --prefix .tools dockerfilelint@1.8.0; }

$(SAMPLE): | sysdeps
	@mkdir -p $(dir $@)
	espeak-ng -v en-us -s 150 -w $(@:.mp4=.wav) "$(SAMPLE_TEXT)"
	ffmpeg -nostdin -loglevel error -y -i $(@:.mp4=.wav) -f lavfi -i color=c=navy:s=320x240:r=15 \
		-shortest -c:v libx264 -pix_fmt yuv420p -c:a aac $@
	@rm -f $(@:.mp4=.wav)

sample: $(SAMPLE)

run: sysdeps venv $(if $(filter $(SAMPLE),$(URL)),$(SAMPLE))
	$(BIN)/scribeflow run "$(URL)"

lint: venv
	$(BIN)/ruff check .

# The whole suite on TEST_WORKERS pytest-xdist workers, each module on one worker (its fixtures
# made once), the longest first (tests/conftest.py); the 10 slowest tests are listed at the end.
TEST_WORKERS ?= 3
test: testdeps venv lint requirements-venv
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=10

# the requirements-alone test's virtualenv (requirements.txt and nothing else), built once per
# content of the file under ~/.cache/scribeflow, as testdeps installs Chromium
requirements-venv: venv
	@$(BIN)/python tests/support/requirements_venv.py >/dev/null

up: sysdeps venv
	$(BIN)/scribeflow up

# The Docker Compose stack on this machine (docker/local/deploy.sh): builds the CPU image and
# starts every service; ends with the UI's address and login. `make deploy-down` removes it.
deploy: venv
	@bash docker/local/deploy.sh up

deploy-down:
	@bash docker/local/deploy.sh down

# The deployment's end-to-end test (its own CI step: the default suite keeps its time).
test-docker: testdeps venv
	$(BIN)/pytest -q -m docker tests/docker --durations=5

# the shipped reference set through every configuration of include/evaluation/configs.yaml
evaluate: sysdeps venv
	$(BIN)/scribeflow evaluate

BENCHES := transcribe_overhead llm_stages pipeline_overhead store_bench embed_throughput \
	mapped_task_overhead feed_listing transcribe_sweep search_load object_storage \
	split_transcription
# `make bench` for the figures in bench/README.md; `make bench BENCH_ARGS=--quick` for a smoke run.
bench: sysdeps venv
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python bench/$$b.py $(BENCH_ARGS) || exit 1; done

clean:
	rm -rf .airflow data/logs data/runs
