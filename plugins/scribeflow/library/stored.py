"""``stored.json``: when a video first reached the library, by which run, from which source.

The store step writes it when it has stored the video's rows (the run that first stores a
video sets ``stored_at``; later runs keep it, so a video re-processed is not new again). The
digests read it to find the videos stored in a period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from scribeflow.core.files import VideoPaths, locked, read_json, write_json_atomic


@dataclass(frozen=True)
class StoredVideo:
    video_id: str
    #: When the video was first stored (UTC, ISO 8601 with seconds).
    stored_at: str
    run_id: str | None = None
    #: The channel source whose run brought it (None: a run of one's own).
    source: str | None = None
    language: str | None = None
    #: The latest run that stored it, and when.
    last_run_id: str | None = None
    last_stored_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredVideo:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})

    @property
    def when(self) -> dt.datetime:
        return parse_time(self.stored_at)


def utc_now() -> str:
    return iso(dt.datetime.now(dt.UTC))


def iso(moment: dt.datetime) -> str:
    """UTC, ``Z``, to the microsecond when there is one: a video stored in the second a digest
    period ends is then on the right side of it (whole seconds put one stored just after a
    digest read the library inside its period, and so in none)."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time (``Z`` or an offset; a date alone is its midnight), in UTC."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def record_stored(video: VideoPaths, video_id: str, run_id: str | None, source: str | None,
                  language: str | None, now: str | None = None) -> tuple[StoredVideo, bool]:
    """Record that ``run_id`` stored the video; the record and whether it is new (the first
    time the video was stored). The one writer of ``stored.json``."""
    now = now or utc_now()
    with locked(video.stored):
        if video.stored.exists():
            before = StoredVideo.from_dict(read_json(video.stored))
            after = replace(before, last_run_id=run_id, last_stored_at=now,
                            language=language or before.language,
                            source=before.source or source)
            new = False
        else:
            after = StoredVideo(video_id=video_id, stored_at=now, run_id=run_id,
                                source=source, language=language, last_run_id=run_id,
                                last_stored_at=now)
            new = True
        write_json_atomic(video.stored, after.to_dict())
    return after, new


def read_stored(path: Path) -> StoredVideo | None:
    """``stored.json``'s one reader; None for a video never stored (or stored before this
    record was kept)."""
    return StoredVideo.from_dict(read_json(path)) if path.exists() else None
