"""Airflow adapters for Scribeflow: the connection hook and the task callables.

Everything Airflow-specific lives here (and in ``dags/``); the logic is in ``scribeflow``.
"""
