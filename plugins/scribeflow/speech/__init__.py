"""Speech to text: faster-whisper (``whisper``, its batched pipeline's view of the model in
``listening``) with the bundled models and ``auto``'s choice
(``models``), whether a transcript and its detected language can be trusted
(``confidence``), an OpenAI-compatible transcription endpoint (``endpoint``), and subtitles
cut from a transcript's word times by the broadcast rules (``subtitles``).

May import: core.
"""
