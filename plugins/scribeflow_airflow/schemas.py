"""Each param schema checked against JSON Schema's meta-schema once per process.

Airflow validates a run's params with ``jsonschema.validate``, which first checks the schema
itself against the meta-schema, every call. Serialising an operator compares and prints its
params (``ParamsDict.__eq__`` and ``__repr__`` resolve every param), so ``dag.test()`` and
every task process validated ``video_pipeline``'s 25 params hundreds of times a run; the
meta-schema check was 20% of a run's CPU outside the models (P15, py-spy). A schema that
passed is not checked again; anything else is exactly ``jsonschema.validate``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_CHECKED: set[tuple[type, str]] = set()
_LOCK = threading.Lock()


def validate_checking_each_schema_once(instance: Any, schema: Any, cls: Any = None, *args: Any,
                                       **kwargs: Any) -> None:
    """``jsonschema.validate``, with the meta-schema check of a schema that passed it once
    left out."""
    from jsonschema import exceptions, validators

    if cls is None:
        cls = validators.validator_for(schema)
    try:
        key = (cls, json.dumps(schema, sort_keys=True))
    except (TypeError, ValueError):  # not JSON: checked every time, as jsonschema does
        key = None
    if key is None or key not in _CHECKED:
        cls.check_schema(schema)
        if key is not None:
            with _LOCK:
                _CHECKED.add(key)
    error = exceptions.best_match(cls(schema, *args, **kwargs).iter_errors(instance))
    if error is not None:
        raise error


def check_each_schema_once() -> None:
    """Have ``jsonschema.validate`` (which Airflow's ``Param`` imports at each call) check a
    schema against the meta-schema once per process."""
    import jsonschema

    jsonschema.validate = validate_checking_each_schema_once
