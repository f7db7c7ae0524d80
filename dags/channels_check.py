"""The sources file's bad entries, as this file's import error in the Airflow UI.

`dags/channels.py` builds one DAG per valid source; an entry that fails validation is left
out there and named here, with the field at fault, one line each. Keeping the error in its
own file lets every other source's DAG load.
"""

from __future__ import annotations

from scribeflow.sources.catalog import load_sources


class SourcesFileError(ValueError):
    """Bad entries in the sources file."""


_errors = load_sources().errors
if _errors:
    raise SourcesFileError("\n".join(_errors))
