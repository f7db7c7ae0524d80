import pytest

from scribeflow.core.config import DeploymentSettings, PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import ConfigError


def test_precedence_default_env_params(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRIBEFLOW_DATA", str(tmp_path))
    monkeypatch.setenv("SCRIBEFLOW_CHUNK_WORDS", "99")
    monkeypatch.setenv("SCRIBEFLOW_VAD_FILTER", "false")
    settings = PipelineSettings.from_env({"language": "de", "whisper_model": None})
    assert settings.data_dir == tmp_path.resolve()
    assert settings.chunk_words == 99 and settings.vad_filter is False
    assert settings.language == "de" and settings.whisper_model == "auto"
    assert PipelineSettings.from_env({"chunk_words": 60}).chunk_words == 60


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"store": "mongo"}, "unknown store 'mongo'"),
        ({"chunk_words": 0}, "chunk_words must be from 20 to 2000, not 0"),
        ({"quiz_per_chunk": 11}, "quiz_per_chunk must be from 1 to 10, not 11"),
        ({"chunk_words": "many"}, "setting chunk_words='many' is not a whole number"),
        ({"quiz": "ture"}, "setting quiz='ture' is not true or false"),
        ({"whisper_device": "tpu"}, "whisper_device must be"),
    ],
)
def test_bad_settings_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        PipelineSettings.from_env(overrides)


def test_llm_settings_from_env_hide_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("OPENAI_MODEL", "m")
    monkeypatch.setenv("SCRIBEFLOW_LLM_CONCURRENCY", "3")
    settings = LLMSettings.from_env(fallback_model="f")
    assert settings.configured and settings.concurrency == 3 and settings.fallback_model == "f"
    assert "sk-secret" not in repr(settings)


def test_llm_without_model_is_not_configured(monkeypatch):
    for key in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "SCRIBEFLOW_LLM_MODEL"):
        monkeypatch.delenv(key, raising=False)
    assert not LLMSettings.from_env().configured


@pytest.mark.parametrize(("env", "message"), [
    ({"OPENAI_API_KEY": "sk-x"}, "LLM partly configured: an API key but no model: set OPENAI_MODEL"),
    ({"OPENAI_BASE_URL": "http://x/v1"}, "LLM partly configured: an endpoint but no model"),
    ({"OPENAI_MODEL": "gpt"}, "LLM partly configured: model 'gpt' but no endpoint or API key"),
    ({"OPENAI_API_KEY": "sk-x", "OPENAI_MODEL": "m", "SCRIBEFLOW_LLM_CONCURRENCY": "lots"},
     "SCRIBEFLOW_LLM_CONCURRENCY='lots' is not a whole number"),
    ({"OPENAI_API_KEY": "sk-x", "OPENAI_MODEL": "m", "SCRIBEFLOW_LLM_MAX_ATTEMPTS": "0"},
     "LLM max_attempts must be at least 1, not 0"),
])
def test_a_partly_configured_llm_is_an_error_naming_what_is_missing(monkeypatch, env, message):
    for key in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "SCRIBEFLOW_LLM_MODEL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        LLMSettings.from_env()
    assert str(info.value).startswith(message) and "sk-x" not in str(info.value)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SCRIBEFLOW_QUIZ", "ture", "SCRIBEFLOW_QUIZ='ture' is not true or false"),
    ("SCRIBEFLOW_ALLOW_DEGRADED", "maybe", "SCRIBEFLOW_ALLOW_DEGRADED='maybe' is not true or false"),
    ("SCRIBEFLOW_CHUNK_WORDS", "1.5", "SCRIBEFLOW_CHUNK_WORDS='1.5' is not a whole number"),
    ("SCRIBEFLOW_MAX_DURATION", "1h", "SCRIBEFLOW_MAX_DURATION='1h' is not a number"),
])
def test_settings_parse_strictly_and_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        PipelineSettings.from_env()
    assert str(info.value).startswith(message), info.value


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("False", False), ("1", True),
                                                 ("0", False), ("yes", True), ("off", False)])
def test_booleans_read_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("SCRIBEFLOW_QUIZ", value)
    assert PipelineSettings.from_env().quiz is expected


def test_language_codes_are_whisper_s_and_unknown_ones_are_refused():
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from transformers.models.whisper.tokenization_whisper import LANGUAGES as WHISPER_NAMES

    from scribeflow.core.languages import LANGUAGES, NAMES, language_code, language_name

    assert LANGUAGES == tuple(_LANGUAGE_CODES)
    assert NAMES == WHISPER_NAMES
    assert language_code("Haitian Creole") == "ht" and language_name("yue") == "Cantonese"
    assert language_name("de") == "German" and language_name("zh") == "Chinese"
    assert PipelineSettings(language="de").language == "de"
    with pytest.raises(ConfigError, match=r"unknown language 'xx': use auto or one of af am ar"):
        PipelineSettings(language="xx")


def test_translation_targets_are_known_codes(monkeypatch):
    assert PipelineSettings(translate_to=["DE", "fr", "de"]).translate_to == ("de", "fr")
    monkeypatch.setenv("SCRIBEFLOW_TRANSLATE_TO", "es, zh")
    assert PipelineSettings.from_env().translate_to == ("es", "zh")
    assert PipelineSettings.from_env({"translate_to": []}).translate_to == ()
    with pytest.raises(ConfigError, match=r"^unknown language 'german' in translate_to: use "
                                          r"whisper's codes \(af am"):
        PipelineSettings(translate_to=["german"])


def test_another_language_with_an_english_only_model_is_refused_before_a_run():
    with pytest.raises(ConfigError, match=r"^language de needs a multilingual whisper model: "
                                          r"tiny.en hears English only; set whisper_model to "
                                          r"auto or base \(bundled, 99 languages\)$"):
        PipelineSettings(language="de", whisper_model="tiny.en")
    assert PipelineSettings(language="en", whisper_model="tiny.en").language == "en"
    assert PipelineSettings(language="auto", whisper_model="small.en").whisper_model == "small.en"


def test_subtitle_settings_are_bounded():
    assert PipelineSettings(subtitle_chars=32, subtitle_lines=1).subtitle_lines == 1
    with pytest.raises(ConfigError, match="subtitle_lines must be from 1 to 3, not 4"):
        PipelineSettings(subtitle_lines=4)


def test_transcription_endpoint_settings_from_env_and_connection(monkeypatch):
    from scribeflow.core.endpoints import (
        TranscriptionSettings,
        transcription_settings_from_connection,
    )

    for name in ("SCRIBEFLOW_TRANSCRIPTION_BASE_URL", "SCRIBEFLOW_TRANSCRIPTION_API_KEY",
                 "OPENAI_API_KEY", "SCRIBEFLOW_TRANSCRIPTION_MAX_UPLOAD_MB"):
        monkeypatch.delenv(name, raising=False)
    assert not TranscriptionSettings.from_env().configured
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    hosted = TranscriptionSettings.from_env()
    assert hosted.endpoint == "https://api.openai.com/v1" and hosted.model == "whisper-1"
    assert hosted.max_upload_mb == 25.0 and "sk-openai" not in repr(hosted)
    monkeypatch.setenv("SCRIBEFLOW_TRANSCRIPTION_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ConfigError, match="SCRIBEFLOW_TRANSCRIPTION_MAX_UPLOAD_MB='lots' is not a number"):
        TranscriptionSettings.from_env()
    monkeypatch.delenv("SCRIBEFLOW_TRANSCRIPTION_MAX_UPLOAD_MB")
    own = transcription_settings_from_connection("whisper", "sk-own", {"model": "large-v3",
                                                                      "max_upload_mb": "100"},
                                                 schema="http", port=8000)
    assert own.base_url == "http://whisper:8000" and own.api_key == "sk-own"
    assert own.model == "large-v3" and own.max_upload_mb == 100.0
    with pytest.raises(ConfigError, match="transcription concurrency must be at least 1"):
        TranscriptionSettings(concurrency=0)


def test_unknown_transcriber_is_named():
    with pytest.raises(ConfigError, match="unknown transcriber 'cloud'; choose one of local, endpoint"):
        PipelineSettings(transcriber="cloud")


def test_deployment_settings_are_typed_and_name_the_variable():
    env = {"SCRIBEFLOW_PRICE_PROMPT_PER_MTOK": "0.15", "SCRIBEFLOW_PRICE_COMPLETION_PER_MTOK": "0.6",
           "SCRIBEFLOW_MODEL_HOST_MAX_MODELS": " 3 ", "SCRIBEFLOW_TRANSCRIBE_QUEUE": "default",
           "SCRIBEFLOW_CHANNELS": "", "SCRIBEFLOW_OTHER": "ignored"}
    deployment = DeploymentSettings.from_env(env)
    assert (deployment.price_prompt_per_mtok, deployment.price_completion_per_mtok) == (0.15, 0.6)
    assert deployment.model_host_max_models == 3 and deployment.transcribe_queue == "default"
    assert deployment.channels == "" and deployment.llm_pool == "llm"  # empty: unset
    assert DeploymentSettings.from_env({}).price_prompt_per_mtok is None
    with pytest.raises(ConfigError, match=r"^SCRIBEFLOW_PRICE_PROMPT_PER_MTOK='0,15' is not a number"):
        DeploymentSettings.from_env({"SCRIBEFLOW_PRICE_PROMPT_PER_MTOK": "0,15"})
    with pytest.raises(ConfigError, match=r"^SCRIBEFLOW_MODEL_HOST_MAX_MODELS='two' is not a whole"):
        DeploymentSettings.from_env({"SCRIBEFLOW_MODEL_HOST_MAX_MODELS": "two"})


def test_the_cost_uses_the_declared_prices(monkeypatch):
    from scribeflow.pipeline.outputs import estimated_cost
    from scribeflow.pipeline.results import LLMUsage

    monkeypatch.setenv("SCRIBEFLOW_PRICE_PROMPT_PER_MTOK", "2")
    monkeypatch.setenv("SCRIBEFLOW_PRICE_COMPLETION_PER_MTOK", "10")
    assert estimated_cost(LLMUsage(prompt_tokens=1_000_000, completion_tokens=500_000)) == 7.0
    monkeypatch.setenv("SCRIBEFLOW_PRICE_COMPLETION_PER_MTOK", "ten")
    with pytest.raises(ConfigError, match="SCRIBEFLOW_PRICE_COMPLETION_PER_MTOK='ten'"):
        estimated_cost(LLMUsage(prompt_tokens=1))


def test_no_code_reads_a_scribeflow_variable_outside_config():
    """Every SCRIBEFLOW_* setting is declared (and typed) in scribeflow.core.config; other modules
    take it from there. (Child environments the CLI builds may still pass names on.)"""
    import re

    from scribeflow.core.config import PROJECT_ROOT

    read = re.compile(r"""os\.(environ\.get|getenv|environ\[)\(?\s*["']SCRIBEFLOW_""")
    offenders = [f"{path.relative_to(PROJECT_ROOT)}:{n}"
                 for folder in ("plugins", "dags") for path in (PROJECT_ROOT / folder).rglob("*.py")
                 if path.name != "config.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1) if read.search(line)]
    assert offenders == []
