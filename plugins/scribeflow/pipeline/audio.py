"""The ``download`` stage: a video's audio and metadata into its folder."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import (
    DataPaths,
)

if TYPE_CHECKING:
    from scribeflow.sources.download import DownloadOptions


from scribeflow.pipeline.results import Downloaded

log = logging.getLogger(__name__)


def download_video(url: str, settings: PipelineSettings,
                   options: DownloadOptions | None = None) -> Downloaded:
    """Download ``url`` into its video folder, with ``options`` (cookies, a sleep range)."""
    from dataclasses import replace

    from scribeflow.sources.download import DownloadOptions, download_audio

    options = replace(options or DownloadOptions(), max_duration=settings.max_duration)
    source = download_audio(url, DataPaths(settings.data_dir), options)
    video = DataPaths(settings.data_dir).video(source.video_id)
    log.info("downloaded %s (%s, %.1f s) to %s", url, source.video_id, source.duration, video.root)
    return Downloaded(video_id=source.video_id, video_dir=str(video.root), title=source.title,
                      duration=source.duration)


