"""P8: embedding throughput of the product's embed path against bare sentence-transformers.

The product path is what ``embed_and_upsert`` does before the store: split each chunk into
units that fit the model (tokenizer counts) and encode them normalised. The bare path
encodes the same unit texts with ``SentenceTransformer.encode``. Same model, same batch
size, alternated, medians reported.
Usage: python bench/embed_throughput.py [--chunks 400] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random

from _common import median, timed

WORDS = ("river cloud vapor ocean planet storm dough yeast flour piano scale magma crust "
         "mountain lesson water rises falls heavy droplet cycle energy sun heat").split()


def chunk_texts(n: int, words_per_chunk: int = 150, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        sentences = []
        remaining = words_per_chunk
        while remaining > 0:
            length = min(remaining, rng.randint(8, 20))
            sentence = " ".join(rng.choice(WORDS) for _ in range(length))
            sentences.append(sentence.capitalize() + ".")
            remaining -= length
        texts.append(" ".join(sentences))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="40 chunks, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.repeats = 40, 1

    from scribeflow.index.embedding import embed_texts, load_embedder, split_units

    model = load_embedder("auto", device="cpu")
    texts = chunk_texts(args.chunks)
    units = [u for t in texts for u in split_units(t, model)]
    batch = 64

    def product() -> None:
        embed_texts(model, [u for t in texts for u in split_units(t, model)], batch)

    def bare() -> None:
        model.encode(units, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)

    bare()
    product()
    bare_s, product_s = [], []
    for _ in range(args.repeats):
        bare_s.append(timed(bare))
        product_s.append(timed(product))
    print(json.dumps({
        "chunks": len(texts), "units": len(units), "batch_size": batch,
        "bare_median_s": round(median(bare_s), 3), "product_median_s": round(median(product_s), 3),
        "bare_units_per_s": round(len(units) / median(bare_s), 1),
        "product_units_per_s": round(len(units) / median(product_s), 1),
        "ratio_product_over_bare": round(median(product_s) / median(bare_s), 3),
        "target": "<= 1.05",
    }, indent=2))


if __name__ == "__main__":
    main()
