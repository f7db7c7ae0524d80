"""Scribeflow: videos into transcripts, documents and searchable embeddings.

Plain Python with no Airflow import: every function here runs and is tested without a
scheduler. The Airflow wiring lives in ``dags/`` and ``plugins/scribeflow_airflow``.
"""

__version__ = "0.2.0"
