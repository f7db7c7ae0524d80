"""The data folder on object storage: ``SCRIBEFLOW_DATA=s3://bucket/prefix`` (any fsspec URL).

The layout under the URL is the one under a local data folder (:mod:`scribeflow.core.files`).
Tasks never work on the bucket directly: each checks out what it needs into a scratch folder
of its own (:func:`checkout`), runs the same step as on a local folder, and publishes what the
step wrote (:func:`publish`).

- **All or nothing.** An object becomes visible only when its upload completes: a small file
  is one PUT, a large one a multipart upload that S3 shows only once it is completed (an
  upload killed half-way leaves parts that no listing or read sees). There is no rename on
  object storage to make a temporary key visible, so a copy from one would only double the
  bytes and leave the temporary key behind when the copy is killed.
- **Streaming.** Uploads go in parts of :data:`PART_BYTES`, downloads in blocks to a part file
  that is renamed once complete: memory stays bounded whatever the length of the video.
- **Locks across hosts.** :meth:`ObjectStorage.lock` creates a lock object with a conditional
  write (``If-None-Match: *``), which only one writer can win; it carries a lease, so a lock
  whose holder was killed is taken over once its lease has run out.
- **Credentials** come from an Airflow connection (the task adapter passes its fields) or the
  provider's usual environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, …); they never
  appear in settings, logs or causes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.errors import ConfigError
from scribeflow.core.files import DataPaths, mirrored

if TYPE_CHECKING:
    from scribeflow.core.config import PipelineSettings

log = logging.getLogger(__name__)

#: Upload part size: what one upload holds in memory (S3's smallest part is 5 MiB).
PART_BYTES = 8 << 20
#: Files a task checks out only when it asks for media (the rest are small JSON and text).
MEDIA = ("audio.wav", "source/")


def storage_options_from_connection(conn: Mapping[str, Any]) -> dict[str, Any]:
    """s3fs options from an Airflow AWS connection's fields: the access key id in ``login``,
    the secret in ``password``, ``endpoint_url`` and ``region_name`` in its extra."""
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    options: dict[str, Any] = {}
    key = conn.get("login") or extra.get("aws_access_key_id")
    secret = conn.get("password") or extra.get("aws_secret_access_key")
    if key and secret:
        options |= {"key": key, "secret": secret}
    client = {k: extra[k] for k in ("endpoint_url", "region_name") if extra.get(k)}
    if not client.get("endpoint_url") and conn.get("host"):
        client["endpoint_url"] = conn["host"]
    if client:
        options["client_kwargs"] = client
    return options


class ObjectStorage:
    """One data folder on object storage: reads, streamed transfers, locks, in its layout."""

    def __init__(self, url: str, fs: Any):
        self.url = url.rstrip("/")
        self.fs = fs
        self.root = fs._strip_protocol(self.url).rstrip("/")
        self.protocol = self.url.partition("://")[0]
        #: Bytes read from and written to the store by this process (what it costs to move).
        self.received = 0
        self.sent = 0

    def __repr__(self) -> str:
        return f"ObjectStorage({self.url!r})"

    def key(self, rel: str) -> str:
        return f"{self.root}/{rel.lstrip('/')}"

    def url_of(self, rel: str) -> str:
        return f"{self.url}/{rel.lstrip('/')}"

    def check(self) -> None:
        """Reach the bucket once, so a wrong URL or credentials fail with one line at the
        start, not half-way through a run."""
        try:
            self.fs.ls(self.root, detail=False, refresh=True)
        except FileNotFoundError as exc:
            if "bucket" in str(exc).lower():
                raise self.cause(exc) from exc
        except Exception as exc:
            raise self.cause(exc) from exc

    def cause(self, exc: BaseException) -> ConfigError:
        """The one-line cause of a failed call to the store (never the secret)."""
        bucket = self.root.split("/")[0]
        text = str(exc)
        endpoint = self._endpoint()
        if isinstance(exc, FileNotFoundError) and "bucket" in text.lower():
            return ConfigError(f"bucket {bucket!r} does not exist at {endpoint}: create it or fix "
                               f"SCRIBEFLOW_DATA ({self.url})")
        if isinstance(exc, PermissionError):
            return ConfigError(f"{endpoint} refused the credentials for {self.url} "
                               f"({self._who()}): {text.splitlines()[0] if text else 'forbidden'}; "
                               "fix the connection named by SCRIBEFLOW_DATA_CONN_ID or the "
                               "AWS_* variables")
        name = type(exc).__name__
        if "connect" in f"{name} {text}".lower() or isinstance(exc, ConnectionError | TimeoutError):
            return ConfigError(f"cannot reach object storage at {endpoint} for {self.url}: "
                               f"{name}")
        return ConfigError(f"object storage {self.url}: {name}: {text.splitlines()[0] if text else ''}")

    def _endpoint(self) -> str:
        client = getattr(self.fs, "client_kwargs", None) or {}
        return (client.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3")
                or os.environ.get("AWS_ENDPOINT_URL") or f"{self.protocol}://")

    def _who(self) -> str:
        key = getattr(self.fs, "key", None) or os.environ.get("AWS_ACCESS_KEY_ID")
        return f"access key {key}" if key else "no access key"

    @contextmanager
    def _explained(self) -> Iterator[None]:
        """A refused, unreachable or missing store as a one-line :class:`ConfigError`; a
        missing object stays a :class:`FileNotFoundError`."""
        try:
            yield
        except FileNotFoundError as exc:
            if "bucket" in str(exc).lower():
                raise self.cause(exc) from exc
            raise
        except (ConfigError, FileExistsError):
            raise
        except Exception as exc:
            if isinstance(exc, PermissionError) or "connect" in f"{type(exc).__name__} {exc}".lower():
                raise self.cause(exc) from exc
            raise

    def exists(self, rel: str) -> bool:
        with self._explained():
            return bool(self.fs.exists(self.key(rel)))

    def read_bytes(self, rel: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        try:
            with self._explained():
                data = self.fs.cat_file(self.key(rel))
        except FileNotFoundError:
            return None
        self.received += len(data)
        return data

    def write_bytes(self, rel: str, data: bytes) -> None:
        """One PUT: readers see the old object or the new one, never part of it."""
        with self._explained():
            self.fs.pipe_file(self.key(rel), data)
        self.sent += len(data)

    def download(self, rel: str, local: Path) -> Path:
        """Stream the object to ``local`` through a part file renamed once complete."""
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.", suffix=".part")
        os.close(fd)
        try:
            with self._explained():
                self.fs.get_file(self.key(rel), part)
            os.replace(part, local)
            self.received += local.stat().st_size
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
        return local

    def download_many(self, pairs: list[tuple[str, Path]]) -> None:
        """:meth:`download` of several objects at once (concurrent requests): each through a
        part file renamed once it is complete."""
        if not pairs:
            return
        parts = []
        for _, local in pairs:
            local.parent.mkdir(parents=True, exist_ok=True)
            fd, part = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.", suffix=".part")
            os.close(fd)
            parts.append(part)
        try:
            with self._explained():
                self.fs.get([self.key(rel) for rel, _ in pairs], parts)
            for part, (_, local) in zip(parts, pairs, strict=True):
                os.replace(part, local)
                self.received += local.stat().st_size
        finally:
            for part in parts:
                Path(part).unlink(missing_ok=True)

    def upload_many(self, pairs: list[tuple[Path, str]]) -> None:
        """:meth:`upload` of several files at once (concurrent requests), each visible once
        its own upload is complete."""
        if not pairs:
            return
        with self._explained():
            self.fs.put([str(local) for local, _ in pairs], [self.key(rel) for _, rel in pairs],
                        chunksize=PART_BYTES)
        self.sent += sum(local.stat().st_size for local, _ in pairs)

    def upload(self, local: Path, rel: str) -> None:
        """Stream ``local`` up in parts of :data:`PART_BYTES`; visible once complete."""
        with self._explained():
            self.fs.put_file(str(local), self.key(rel), chunksize=PART_BYTES)
        self.sent += local.stat().st_size

    def files(self, rel_dir: str) -> list[str]:
        """Every object under ``rel_dir``, as paths relative to the data folder."""
        try:
            with self._explained():
                found = self.fs.find(self.key(rel_dir), withdirs=False)
        except FileNotFoundError:
            return []
        start = len(self.root) + 1
        return sorted(k[start:] for k in found if not k.endswith(".lock"))

    def folders(self, rel_dir: str) -> list[str]:
        """The names of the folders right under ``rel_dir``."""
        try:
            with self._explained():
                found = self.fs.ls(self.key(rel_dir), detail=True, refresh=True)
        except FileNotFoundError:
            return []
        return sorted(Path(e["name"]).name for e in found if e.get("type") == "directory")

    @contextmanager
    def lock(self, rel: str, wait_s: float = 120.0, lease_s: float = 600.0) -> Iterator[None]:
        """Hold ``rel``.lock across hosts: created by one conditional write, which one
        writer wins; a lock older than its lease (its holder was killed) is taken over."""
        key = self.key(rel + ".lock")
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + wait_s
        delay = 0.05
        while True:
            body = json.dumps({"holder": token, "expires": time.time() + lease_s}).encode()
            try:
                with self._explained():
                    self.fs.pipe_file(key, body, mode="create")
                break
            except FileExistsError:
                held = self.read_bytes(rel + ".lock")
                if held is None:  # released in between: try again at once
                    continue
                try:
                    expires = json.loads(held)["expires"]
                except (ValueError, KeyError, TypeError):
                    expires = 0.0
                # A lease that ran out: its holder was killed. (Two waiters may both see it
                # and both delete; the second delete can then hit the first's new lock, so
                # leases are long and this only happens after a crash.)
                if expires < time.time():
                    log.warning("taking over %s: its holder's lease ran out", self.url_of(rel))
                    self.fs.rm_file(key)
                    continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url_of(rel)} stayed locked for {wait_s:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        try:
            yield
        finally:
            try:
                held = self.read_bytes(rel + ".lock")
                if held and json.loads(held).get("holder") == token:
                    self.fs.rm_file(key)
            except Exception:  # the lease frees it in the end
                log.exception("could not release %s", key)


_OPENED: dict[str, tuple[ObjectStorage, Any]] = {}
_OPENED_LOCK = threading.Lock()


def open_storage(url: str, options: Mapping[str, Any] | None = None) -> ObjectStorage:
    """The storage at ``url``, one per URL and process (its client is made once). With
    ``options`` (from a connection) it is made again only when they changed; without them,
    the one made first is used, else the provider's environment applies."""
    with _OPENED_LOCK:
        known = _OPENED.get(url)
        wanted = dict(options) if options is not None else None
        if known is None or (wanted is not None and known[1] != wanted):
            import fsspec

            protocol = url.partition("://")[0]
            try:
                fs = fsspec.filesystem(protocol, skip_instance_cache=True,
                                       **_defaults(protocol), **dict(options or {}))
            except (ImportError, ValueError) as exc:
                raise ConfigError(f"SCRIBEFLOW_DATA={url}: no filesystem for {protocol}:// "
                                  f"({str(exc).splitlines()[0]})") from exc
            if hasattr(fs, "retries"):  # s3fs retries 5 times with back-off by default
                fs.retries = 2
            _OPENED[url] = (ObjectStorage(url, fs), wanted)
        return _OPENED[url][0]


def _defaults(protocol: str) -> dict[str, Any]:
    if protocol in ("s3", "s3a"):  # fail in seconds on an unreachable endpoint, not minutes
        return {"config_kwargs": {"connect_timeout": 5, "retries": {"max_attempts": 2}}}
    return {}


def new_scratch(workdir: Path, label: str) -> Path:
    """A fresh scratch folder ``<label>.<pid>.<random>`` under this host's ``workdir``; the
    scratch folders of processes that are gone (a killed task's) are removed first."""
    workdir.mkdir(parents=True, exist_ok=True)
    for folder in workdir.glob("*.*.*"):
        try:
            os.kill(int(folder.name.split(".")[1]), 0)
        except ProcessLookupError:
            log.info("removing %s, left by a task that was killed", folder.name)
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue
    return Path(tempfile.mkdtemp(prefix=f"{label}.{os.getpid()}.", dir=workdir))


@contextmanager
def working_copy(settings: PipelineSettings, folders: Iterable[str] = (),
                 label: str = "work") -> Iterator[DataPaths]:
    """The data folder to work in: the local one; or, with the data on object storage, a
    scratch folder holding copies of ``folders`` (relative paths) that stands for the bucket
    (:func:`scribeflow.core.files.mirrored`: locked updates under it go to the bucket), removed
    at the end."""
    if not settings.data_url:
        yield DataPaths(settings.data_dir)
        return
    storage = open_storage(settings.data_url)
    scratch = new_scratch(settings.data_dir, label)
    try:
        with mirrored(scratch, storage):
            for rel in folders:
                checkout(storage, rel, scratch / rel)
            yield DataPaths(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def checkout(storage: ObjectStorage, rel_dir: str, local_dir: Path, media: bool = False
             ) -> dict[str, tuple[int, int]]:
    """Copy the objects under ``rel_dir`` into ``local_dir`` (media only when asked for);
    return what was copied, to tell later what a step changed."""
    wanted = {}
    for rel in storage.files(rel_dir):
        inner = rel[len(rel_dir.rstrip("/")) + 1:]
        if media or not any(inner == m or inner.startswith(m) for m in MEDIA):
            wanted[inner] = rel
    storage.download_many([(rel, local_dir / inner) for inner, rel in wanted.items()])
    copied: dict[str, tuple[int, int]] = {}
    for inner in wanted:
        stat = (local_dir / inner).stat()
        copied[inner] = (stat.st_size, stat.st_mtime_ns)
    return copied


def publish(storage: ObjectStorage, local_dir: Path, rel_dir: str,
            checked_out: Mapping[str, tuple[int, int]] | None = None) -> list[str]:
    """Upload what under ``local_dir`` is new or changed since :func:`checkout`: derived
    files first, the JSON records (which later steps and re-runs trust) last."""
    checked_out = checked_out or {}
    changed = []
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        inner = path.relative_to(local_dir).as_posix()
        if path.name.startswith(".") or path.name.endswith((".lock", ".part", ".tmp")):
            continue
        stat = path.stat()
        if checked_out.get(inner) != (stat.st_size, stat.st_mtime_ns):
            changed.append(inner)
    changed.sort(key=lambda inner: inner.endswith(".json"))
    for batch in ([i for i in changed if not i.endswith(".json")],
                  [i for i in changed if i.endswith(".json")]):
        storage.upload_many([(local_dir / inner, f"{rel_dir.rstrip('/')}/{inner}")
                             for inner in batch])
    return changed
