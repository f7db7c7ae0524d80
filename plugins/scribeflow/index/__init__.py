"""What is stored and how it is found: embeddings (``embedding``), moments inside a unit
(``moments``), the ranking of hybrid candidates (``ranking``), the stores (``store``: Parquet
and pgvector behind one interface) and the one search function (``search``).

May import: core.
"""
