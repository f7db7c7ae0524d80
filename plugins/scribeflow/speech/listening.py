"""The whisper model as faster-whisper's batched pipeline sees it (:class:`Listening`): it
tells the language of every 30 s batch it encodes (one decoder step on the encoder output
that decoding computes anyway: an encoder pass of its own per check made P1 1.16 instead of
1.0), and it encodes the input's first chunk once, not twice, when the language is to be
detected.

Asked for no language, the batched pipeline detects one from its own encoder pass over the
first 30 s of speech, then encodes every chunk again to decode it, the first one included:
one encoder pass in every input's first window spent twice. With the multilingual ``base`` on
one CPU thread that pass is about 1 s, as long as decoding a short clip's words. Here the
language is detected from the first chunk's encoder output (the first 30 s of speech, or
less when a pause ends it sooner), and that output is the one decoding then uses for it.
"""

from __future__ import annotations

from typing import Any


class Listening:
    """``model`` (a faster-whisper ``WhisperModel``) for ``BatchedInferencePipeline``.
    ``detect``: whether languages are to be told (no language given, a multilingual model).
    :meth:`begin` before each decode of a window."""

    def __init__(self, model: Any, detect: bool):
        self._model = model
        self._detect = detect
        #: ``(code, probability)`` of each batch encoded since :meth:`begin`, in order.
        self.heard: list[tuple[str, float]] = []
        self._first: Any = None  # the window's first chunk's features, as a batch holds them
        self._encoded: tuple[Any, Any] | None = None  # (that input, its encoder output)
        self._kept: Any = None  # the joined output's memory, while decoding reads it

    def begin(self) -> None:
        self.heard.clear()
        self._first = self._encoded = self._kept = None

    def chunk_features(self, features: Any) -> None:
        """Features the pipeline computed for one chunk: the first are kept, as a batch
        will hold them (the pipeline drops their last frame)."""
        if self._first is None:
            self._first = features[..., :-1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    @property
    def feature_extractor(self) -> Any:
        return _FirstFeatures(self._model.feature_extractor, self) if self._detect \
            else self._model.feature_extractor

    def detect_language(self, audio: Any = None, features: Any = None,
                        **kwargs: Any) -> tuple[str, float, list[tuple[str, float]]]:
        """The pipeline's detection: from the first chunk's encoder output, kept for its
        decoding; as faster-whisper does it for anything else."""
        if audio is not None or self._first is None:
            return self._model.detect_language(audio=audio, features=features, **kwargs)
        from faster_whisper.audio import pad_or_trim

        first = pad_or_trim(self._first)
        output = self._model.encode(first)
        self._encoded = (first, output)
        ranked = [(token[2:-2], float(p))
                  for token, p in self._model.model.detect_language(output)[0]]
        return ranked[0][0], ranked[0][1], ranked

    def encode(self, features: Any) -> Any:
        output = self._reused(features)
        if output is None:
            output = self._model.encode(features)
        if self._detect:
            self.heard += [(langs[0][0].strip("<|>"), round(float(langs[0][1]), 4))
                           for langs in self._model.model.detect_language(output)]
        return output

    def _reused(self, features: Any) -> Any:
        """The batch's encoder output with its first chunk's from the detection, when it
        holds that chunk first; None otherwise. Joining needs the output in this process's
        memory: on a GPU a batch of several chunks is encoded whole, as before."""
        import numpy as np

        if self._encoded is None or features.ndim != 3:
            return None
        first, output = self._encoded
        self._encoded = None
        if not np.array_equal(features[0], first):
            return None
        if len(features) == 1:
            return output
        if output.device != "cpu":
            return None
        import ctranslate2

        rest = self._model.encode(features[1:])
        self._kept = np.concatenate([np.asarray(output), np.asarray(rest)])
        return ctranslate2.StorageView.from_array(self._kept)  # shares _kept's memory


class _FirstFeatures:
    """The model's feature extractor, telling :class:`Listening` each chunk's features."""

    def __init__(self, extractor: Any, listening: Listening):
        self._extractor = extractor
        self._listening = listening

    def __getattr__(self, name: str) -> Any:
        return getattr(self._extractor, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        features = self._extractor(*args, **kwargs)
        self._listening.chunk_features(features)
        return features
