"""Speech to text: faster-whisper (``whisper``), an OpenAI-compatible transcription endpoint
(``endpoint``), and the subtitle renderings of a transcript (``subtitles``).

May import: core.
"""
