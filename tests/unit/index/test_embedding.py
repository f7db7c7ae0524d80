"""Embed units with the real all-MiniLM-L6-v2: never longer than the model takes."""

import numpy as np
import pytest

from scribeflow.index.embedding import (
    count_tokens,
    embed_texts,
    model_label,
    split_units,
    strip_markdown,
    token_limit,
)


def test_units_fit_the_model_and_lose_no_words(embedder):
    sentence = "The quick brown fox jumps over the lazy dog near the riverbank at dawn."
    text = "## Heading\n\n" + " ".join([sentence] * 60)
    units = split_units(text, embedder)
    limit = token_limit(embedder)
    assert limit == 254 and len(units) > 1
    assert all(count_tokens(embedder, u) <= limit for u in units)
    assert " ".join(units).split() == strip_markdown(text).split()


def test_a_sentence_longer_than_the_limit_is_split_at_words(embedder):
    text = " ".join(f"word{i}" for i in range(600))
    units = split_units(text, embedder)
    assert len(units) > 2
    assert all(count_tokens(embedder, u) <= token_limit(embedder) for u in units)
    assert " ".join(units) == text


def test_vectors_are_normalised_and_meaningful(embedder):
    vectors = embed_texts(embedder, ["a cat sat on the mat", "a kitten sat on a rug",
                                     "quarterly revenue rose by ten percent"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embed_texts(embedder, []).shape == (0, 384)


def test_bundled_model_label():
    assert model_label("auto") == "all-MiniLM-L6-v2"
    assert model_label("intfloat/e5-small") == "intfloat/e5-small"


def test_concurrent_queries_are_embedded_together_with_the_same_vectors(embedder):
    """Searches arriving at once share model calls, and each gets its own query's vector."""
    import threading

    import numpy as np

    from scribeflow.index.embedding import QueryBatcher, embed_texts

    texts = [f"how does the water cycle work, question {i}" for i in range(12)]
    calls = []

    class Counted:  # the real model, its calls counted
        def __init__(self, model):
            self.model = model

        def encode(self, batch, **kwargs):
            calls.append(len(batch))
            return self.model.encode(batch, **kwargs)

        def get_embedding_dimension(self):
            return self.model.get_embedding_dimension()

        def __getattr__(self, name):  # tokenizer, max_seq_length
            return getattr(self.model, name)

    batcher = QueryBatcher(Counted(embedder))
    results = [None] * len(texts)
    start = threading.Barrier(len(texts))

    def ask(i):
        start.wait()
        results[i] = batcher.embed(texts[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alone = embed_texts(embedder, texts)
    assert all(np.allclose(results[i], alone[i], atol=1e-4) for i in range(len(texts)))
    assert sum(calls) == len(texts) and len(calls) < len(texts), calls


def test_a_failed_query_batch_fails_each_search_that_waited_on_it():
    from scribeflow.index.embedding import QueryBatcher

    class Broken:
        max_seq_length = 256

        def tokenizer(self, texts, **kwargs):  # a list in, a list of id lists out, as the real one
            return {"input_ids": [t.split() for t in texts]}

        def encode(self, batch, **kwargs):
            raise RuntimeError("CUDA out of memory")

        def get_embedding_dimension(self):
            return 4

    with pytest.raises(RuntimeError, match="out of memory"):
        QueryBatcher(Broken()).embed("anything")


def test_token_counts_from_other_threads_do_not_break_a_batch_being_encoded(embedder):
    """The tokenizer keeps its padding setting on the shared object: token counts made while
    a batch of queries of different lengths was being encoded turned padding off, and the
    batch failed ("expected sequence of length 6 at dim 1 (got 5)": 3 failures in 4 s with
    16 counting threads before the model lock; 18 failed requests of ~1,500 under 16 clients)."""
    import threading
    import time

    from scribeflow.index.embedding import embed_texts

    texts = [" ".join(["river"] * (1 + i % 7)) + f" delta {i}" for i in range(16)]
    errors = []
    stop = time.monotonic() + 3.0

    def encode():
        while time.monotonic() < stop:
            try:
                embed_texts(embedder, texts)
            except Exception as exc:
                errors.append(exc)

    def count():
        i = 0
        while time.monotonic() < stop:
            count_tokens(embedder, texts[i % len(texts)])
            i += 1

    threads = [threading.Thread(target=encode)] + [threading.Thread(target=count) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_query_over_the_input_limit_is_refused_by_the_batcher(embedder):
    from scribeflow.core.errors import BadInputError
    from scribeflow.index.embedding import embed_query

    with pytest.raises(BadInputError, match="at most 254"):
        embed_query(embedder, "x7q9z " * 160)
    assert embed_query(embedder, "a short query").shape == (384,)  # the batcher goes on


def test_the_bundled_model_loads_offline_without_turning_the_hub_off_for_the_process():
    """A worker's transcription may still download a configured whisper model: loading the
    bundled embedding model reads its folder only and leaves HF_HUB_OFFLINE alone."""
    import os
    import subprocess
    import sys

    code = ("import os; from scribeflow.index.embedding import load_embedder; "
            "load_embedder('auto', 'cpu'); print(os.environ.get('HF_HUB_OFFLINE'))")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=300).stdout
    assert out.strip().splitlines()[-1] == "None"
