"""Long-lived processes that save each run its start-up: the model host (whisper and the
embedding model kept loaded), the run host (Airflow imported once, a child per run), and the
Airflow environment ``scribeflow`` commands run in (``airflow_home``).

May import: core, speech, index.
"""
