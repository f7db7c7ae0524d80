"""One video through the stages, and a source's uploads through runs: the steps the DAG's
tasks call (paths in, an artifact written, a typed result out), the run summary, finding a
video processed before (``reuse``), and channel ingestion (``ingest``).

May import: core, sources, speech, writing, index, hosts.
"""
