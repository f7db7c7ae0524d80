"""Videos as the pipeline leaves them on disk, for tests of the steps after it: a
transcript, its document's chunks, a summary, and the record of its storing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from scribeflow.core.files import DataPaths, write_json_atomic
from scribeflow.library.stored import record_stored
from scribeflow.writing.chunking import without_speaker_labels
from scribeflow.writing.summarize import KeyMoment, VideoSummary


def transcript(texts: list[str], key: str = "t1") -> dict:
    """A transcript of ``texts``, each spoken over its chunk's 9 s, its words evenly spaced."""
    segments = []
    for i, text in enumerate(texts):
        words = without_speaker_labels(text).split()
        step = 9.0 / max(len(words), 1)
        segments.append({"id": i, "start": 10.0 * i, "end": 10.0 * i + 9, "text": " ".join(words),
                         "words": [{"start": round(10 * i + n * step, 3),
                                    "end": round(10 * i + (n + 1) * step, 3), "word": " " + w}
                                   for n, w in enumerate(words)]})
    return {"video_id": "file-abc", "language": "en", "language_probability": 1.0,
            "duration": 30.0, "model": "tiny.en", "device": "cpu", "compute_type": "int8",
            "settings": {}, "processing_s": 0.1, "segments": segments, "cache_key": key}


def make_video(data: Path, texts: list[str], title: str = "Lesson") -> str:
    video = DataPaths(data).video("file-abc")
    write_json_atomic(video.metadata, {"video_id": "file-abc", "title": title, "channel": None,
                                       "upload_date": None, "duration": 30.0,
                                       "webpage_url": "file:///lesson.mp4"})
    write_json_atomic(video.transcript, transcript(texts))
    write_json_atomic(video.document_chunks, [
        {"index": i, "start": 10.0 * i, "end": 10.0 * i + 9, "text": t}
        for i, t in enumerate(texts)])
    return str(video.root)


def add_video(data: DataPaths, video_id: str, stored: dt.datetime, source: str | None,
              summary: VideoSummary, title: str | None = None,
              url: str = "https://www.youtube.com/watch?v=", channel: str | None = "Geo Talks"
              ) -> None:
    video = data.video(video_id)
    write_json_atomic(video.metadata, {
        "video_id": video_id, "title": title or f"Talk {video_id}", "channel": channel,
        "upload_date": "20261101", "duration": 60.0,
        "webpage_url": url + (video_id if url.endswith("=") else "")})
    write_json_atomic(video.summary, summary.to_dict())
    record_stored(video, video_id, f"run-{video_id}", source, "en",
                  now=stored.isoformat().replace("+00:00", "Z"))


GOOD = VideoSummary(abstract="Rivers carry water to the sea. Clouds bring it back.",
                    key_moments=(KeyMoment("Rivers reach the sea.", 12.5, "q", 95.0),
                                 KeyMoment("Clouds form.", 40.0, "q", 90.0)),
                    covered_s=60.0, duration_s=60.0)
