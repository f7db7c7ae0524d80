"""yt-dlp for real against a local HTTP server, and local files."""

import pytest

from scribeflow.core.errors import BadInputError, ScribeflowError
from scribeflow.core.files import DataPaths, read_json
from scribeflow.sources.download import DownloadOptions, download_audio, file_video_id
from scribeflow.sources.media import probe


def test_http_download_gives_pcm_and_metadata(media, tmp_path):
    data = DataPaths(tmp_path)
    source = download_audio(media.url("talk.mp4"), data)
    assert source.video_id == "generic-talk" and source.extractor == "generic"
    assert source.title == "talk" and 40 < source.duration < 70
    video = data.video(source.video_id)
    found = probe(video.audio)
    assert found.audio_streams == 1 and found.video_streams == 0
    meta = read_json(video.metadata)
    assert meta["webpage_url"] == media.url("talk.mp4") and meta["video_id"] == "generic-talk"
    assert not list((tmp_path / "downloads").iterdir())


def test_a_listing_gives_the_video_its_id(media, tmp_path):
    """A feed entry's key (its feed and guid) names the stored video, not the file's name;
    an id that is not file-name safe is refused before anything is fetched."""
    data = DataPaths(tmp_path)
    key = "generic-talk-3fa2c9d1e0"
    source = download_audio(media.url("talk.mp4"), data, DownloadOptions(video_id=key))
    assert source.video_id == key and read_json(data.video(key).metadata)["video_id"] == key
    assert not data.video("generic-talk").root.exists()
    for bad in ("../talk", "", "a b"):
        with pytest.raises(BadInputError, match="is not a file-name-safe id"):
            download_audio(media.url("talk.mp4"), data, DownloadOptions(video_id=bad))


def test_local_file_and_file_url_share_a_content_hash_id(media, tmp_path):
    path = media.root / "talk.mp4"
    by_path = download_audio(str(path), DataPaths(tmp_path))
    by_url = download_audio(path.as_uri(), DataPaths(tmp_path))
    assert by_path.video_id == by_url.video_id == file_video_id(path)
    assert by_path.video_id.startswith("file-") and by_path.webpage_url == path.as_uri()


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("", "no URL or file given"),
        ("just words", "not a URL or an existing file: 'just words'"),
        ("/no/such/video.mp4", "file not found: /no/such/video.mp4"),
        ("file:///no/such/video.mp4", "file not found: /no/such/video.mp4"),
    ],
)
def test_bad_locations(url, cause, tmp_path):
    with pytest.raises(BadInputError) as info:
        download_audio(url, DataPaths(tmp_path))
    assert str(info.value) == cause
    assert not (tmp_path / "videos").exists()


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("missing.mp4", "Unable to download webpage: HTTP Error 404: File not found"),
        ("notes.txt", "not a media file: "),
        ("noaudio.mp4", "no audio stream in "),
        ("page.html", "Unsupported URL: "),
    ],
)
def test_bad_remote_media(name, cause, media, tmp_path):
    with pytest.raises(BadInputError) as info:
        download_audio(media.url(name), DataPaths(tmp_path))
    assert cause in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "videos").exists()


def test_local_non_media_and_directory(media, tmp_path):
    with pytest.raises(BadInputError, match="not a media file: .*notes.txt"):
        download_audio(str(media.root / "notes.txt"), DataPaths(tmp_path))
    with pytest.raises(BadInputError, match="not a file"):
        download_audio(str(media.root), DataPaths(tmp_path))


def test_unreachable_host_is_retryable_not_bad_input(tmp_path):
    with pytest.raises(ScribeflowError) as info:
        download_audio("http://127.0.0.1:9/talk.mp4", DataPaths(tmp_path))
    assert not isinstance(info.value, BadInputError)
    assert "Connection refused" in str(info.value)


def test_a_folder_is_not_a_file_by_path_or_file_url(media, tmp_path):
    for url in (str(media.root), media.root.as_uri() + "/"):
        with pytest.raises(BadInputError) as info:
            download_audio(url, DataPaths(tmp_path))
        assert str(info.value) == f"not a file: {media.root} is a folder; give one media file"


def test_a_truncated_file_is_refused_not_transcribed(media, tmp_path):
    import subprocess

    whole = tmp_path / "whole.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                    str(media.root / "talk.mp4"), "-vn", "-c:a", "libmp3lame", "-b:a", "64k",
                    str(whole)], check=True)
    cut = media.root / "cut.mp3"  # the first 5 KB, as an interrupted upload leaves it
    cut.write_bytes(whole.read_bytes()[:5000])
    for url in (str(cut), media.url("cut.mp3")):
        with pytest.raises(BadInputError) as info:
            download_audio(url, DataPaths(tmp_path / "data"))
        assert "truncated or damaged media: " in str(info.value)
        assert " s of audio but only 0." in str(info.value), info.value
    assert not (tmp_path / "data" / "videos").exists()


def test_inputs_over_max_duration_are_refused_before_decoding(media, tmp_path):
    from scribeflow.sources.download import DownloadOptions

    limit = DownloadOptions(max_duration=5)
    for url in (str(media.root / "talk.mp4"), media.url("talk.mp4")):
        with pytest.raises(BadInputError) as info:
            download_audio(url, DataPaths(tmp_path), limit)
        assert " s long, over max_duration 5 s (raise SCRIBEFLOW_MAX_DURATION to take it)" \
            in str(info.value), info.value
    assert not (tmp_path / "videos").exists()
    assert download_audio(str(media.root / "talk.mp4"), DataPaths(tmp_path),
                          DownloadOptions(max_duration=3600)).duration > 5


def test_runs_of_one_video_committing_audio_at_once_all_succeed(tmp_path):
    """Two runs of one video (a double-click, or ingestion beside a manual trigger) decode
    and commit the same audio at the same time: every commit succeeds and the last wins."""
    import threading

    from scribeflow.sources.download import _commit

    target = tmp_path / "videos" / "v" / "audio.wav"
    start, errors = threading.Barrier(8), []

    def commit_many(worker: int) -> None:
        start.wait()
        for n in range(40):
            audio = tmp_path / f"decoded-{worker}-{n}.wav"
            audio.write_bytes(f"{worker}:{n}".encode())
            try:
                _commit(audio, target)
            except OSError as error:
                errors.append(error)

    threads = [threading.Thread(target=commit_many, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_text().endswith(":39")
    assert [p.name for p in target.parent.iterdir()] == ["audio.wav"]
