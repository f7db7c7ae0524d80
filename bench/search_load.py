"""P11: the HTTP search API under load, on both stores.

A store of N rows (N/100 videos of 100 rows; 40-word texts drawn with a Zipf distribution,
random 384-d vectors under the embedding model's name) is written through the product's
``upsert_videos`` for each backend; ``scribeflow serve`` (uvicorn, the app the Airflow
plugin mounts) serves it on 127.0.0.1. Clients send ``GET /api/search?q=…&store=…`` with
queries of three or four words of stored texts, each on its own keep-alive connection, as
fast as answers come, for a fixed time: first one client, then ``--clients`` at once. Every
request runs the real path: the query is embedded by all-MiniLM-L6-v2, then the store's
hybrid search runs (pgvector through its connection pool). Reported per store: requests
per second, p50 and p95 latency, the throughput ratio of many clients to one, and where the
CPU went: milliseconds of CPU per request in the server, in PostgreSQL (all its processes)
and in the clients (this process), read from ``/proc``; and how the server batched the
concurrent searches (``/api/status``): queries embedded per model call, Parquet searches per
matrix product.
Usage: python bench/search_load.py [--rows 100000] [--seconds 20] [--clients 16] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
from _common import ROOT, zipf_queries, zipf_texts

DIM = 384


def build_rows(n: int, texts: list[str], model: str) -> dict[str, list]:
    from scribeflow.core.records import ChunkRow

    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out: dict[str, list] = {}
    for i in range(n):
        video = f"v{i // 100:06d}"
        out.setdefault(video, []).append(ChunkRow(
            id=f"{video}-{i % 100}", video_id=video, chunk_index=i % 100, unit_index=0,
            start=float(i % 100) * 30, end=float(i % 100) * 30 + 29, text=texts[i],
            title=f"Video {video}", channel=f"channel{i % 7}", upload_date="2024-05-01",
            language="en", url=f"https://example.invalid/{video}#t={(i % 100) * 30}",
            model=model, vector=vectors[i]))
    return out


def load(port: int, store: str, queries: list[str], clients: int, seconds: float
         ) -> dict[str, object]:
    """``clients`` threads, each on its own connection, sending queries for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    empty = [0]
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = index * 7919
        while time.perf_counter() < stop_at:
            q = urllib.parse.quote(queries[i % len(queries)])
            i += 1
            started = time.perf_counter()
            try:
                conn.request("GET", f"/api/search?q={q}&k=10&store={store}")
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:  # counted, and a new connection
                failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            latencies[index].append(time.perf_counter() - started)
            if response.status != 200:
                failures.append(f"{response.status} {body[:200]!r}")
            elif not json.loads(body)["hits"]:
                empty[0] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    flat = np.asarray([x for per in latencies for x in per]) * 1000
    return {"clients": clients, "requests": int(flat.size), "failed": len(failures),
            "without_hits": empty[0], "first_failure": failures[0] if failures else None,
            "rps": round(flat.size / elapsed, 1),
            "p50_ms": round(float(np.percentile(flat, 50)), 1),
            "p95_ms": round(float(np.percentile(flat, 95)), 1)}


def cpu_s(pid: int, tree: bool = True) -> float:
    """CPU seconds of ``pid`` and, with ``tree``, of its children, the exited ones included
    (``/proc``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(x) for x in fields[11:15 if tree else 13]) / ticks  # utime stime cutime cstime
    if not tree:
        return own
    children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                and _parent(int(p.name)) == pid]
    return own + sum(cpu_s(c) for c in children)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def batching(port: int) -> dict[str, dict[str, int]]:
    """The server's count of searches and of the batches that answered them (``/api/status``)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/api/status")
    return json.loads(conn.getresponse().read())["batching"]


def measured(port: int, store: str, queries: list[str], clients: int, seconds: float,
             pids: dict[str, int]) -> dict[str, object]:
    """:func:`load`, with the CPU each side spent per request, and the queries the server
    embedded (and, for Parquet, multiplied with the stored vectors) with the mean number
    answered by one model call (one matrix product)."""
    def now() -> dict[str, float]:  # the clients are this process alone, not its children
        return {name: cpu_s(pid, tree=name != "clients") for name, pid in pids.items()}

    before, counted = now(), batching(port)
    out = load(port, store, queries, clients, seconds)
    spent = {name: v - before[name] for name, v in now().items()}
    out["cpu_ms_per_request"] = {name: round(1000 * v / max(out["requests"], 1), 2)
                                 for name, v in spent.items()}
    for name, after in batching(port).items():
        done = {key: after[key] - counted[name][key] for key in after}
        out[name] = {**done, "mean_batch": round(done["requests"] / max(done["batches"], 1), 2)}
    return out


def wait_for(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"scribeflow serve exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("scribeflow serve did not answer")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="5,000 rows, 3 s a side")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.seconds = 5_000, 3.0

    import pgserver

    from scribeflow.core.files import DataPaths
    from scribeflow.index.embedding import model_label
    from scribeflow.index.store.parquet import ParquetStore
    from scribeflow.index.store.pgvector import PgvectorStore

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    texts, _ = zipf_texts(args.rows)
    queries = zipf_queries(texts, 500)
    rows = build_rows(args.rows, texts, model_label("auto"))
    server = pgserver.get_server(work / "pg", cleanup_mode="stop")
    dsn = server.get_uri()
    ParquetStore(DataPaths(work / "data").parquet_store).upsert_videos(rows)
    pg = PgvectorStore(dsn)
    pg.upsert_videos(rows)
    pg.close()
    del rows

    port = 18_000 + os.getpid() % 1000
    env = {**os.environ, "SCRIBEFLOW_DATA": str(work / "data"), "SCRIBEFLOW_PGVECTOR_DSN": dsn,
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "plugins")}
    serve = subprocess.Popen([sys.executable, "-m", "scribeflow.cli.main", "serve", "--port", str(port)],
                             env=env, stdout=subprocess.DEVNULL)
    result: dict = {"rows": args.rows, "seconds_per_side": args.seconds,
                    "cores": len(os.sched_getaffinity(0))}
    try:
        wait_for(port, serve)
        pids = {"server": serve.pid, "postgres": server.get_pid(), "clients": os.getpid()}
        for store in ("parquet", "pgvector"):
            load(port, store, queries, 1, min(2.0, args.seconds))  # warm: model, cache, pool
            one = measured(port, store, queries, 1, args.seconds, pids)
            many = measured(port, store, queries, args.clients, args.seconds, pids)
            result[store] = {"one_client": one, f"{args.clients}_clients": many,
                             "throughput_ratio": round(many["rps"] / one["rps"], 2)}
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        server.cleanup()
    result["target"] = "throughput >= 1.7x one client on 2 cores, p95 <= 50 ms"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
