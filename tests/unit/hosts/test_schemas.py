"""Param schemas checked against JSON Schema's meta-schema once per process: the same
outcomes as ``jsonschema.validate`` (a valid value, a bad value, a bad schema every time),
with the meta-schema check run once per schema; Airflow's params go through it."""

from __future__ import annotations

import jsonschema
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

from scribeflow_airflow.schemas import validate_checking_each_schema_once as validate

LANGUAGE = {"type": "string", "enum": ["en", "de", "fr"], "title": "Language"}


@pytest.fixture
def checks(monkeypatch) -> list[dict]:
    """The schemas the meta-schema check saw, in order."""
    seen: list[dict] = []
    check = Draft202012Validator.check_schema.__func__

    def counting(cls, schema, *args, **kwargs):
        seen.append(schema)
        return check(cls, schema, *args, **kwargs)

    monkeypatch.setattr(Draft202012Validator, "check_schema", classmethod(counting))
    return seen


def test_the_same_outcomes_as_jsonschema_with_one_check_per_schema(checks):
    for _ in range(3):
        validate("de", LANGUAGE, format_checker=FormatChecker())
    with pytest.raises(ValidationError, match="'xx' is not one of"):
        validate("xx", LANGUAGE)
    assert checks == [LANGUAGE]  # once, though validated four times
    count = {"type": "integer", "minimum": 0, "maximum": 8}
    validate(2, count)
    with pytest.raises(ValidationError, match="9 is greater than the maximum of 8"):
        validate(9, count)
    assert checks == [LANGUAGE, count]
    # what jsonschema itself says of the same values
    jsonschema.validators.validate("de", LANGUAGE)
    with pytest.raises(ValidationError, match="'xx' is not one of"):
        jsonschema.validators.validate("xx", LANGUAGE)


def test_a_bad_schema_is_refused_every_time(checks):
    bad = {"type": "integer", "minimum": "zero"}
    for _ in range(2):
        with pytest.raises(SchemaError, match="'zero' is not of type 'number'"):
            validate(1, bad)
    assert checks == [bad, bad]


def test_airflows_params_are_checked_this_way():
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamValidationError

    assert jsonschema.validate is validate  # airflow_local_settings, as Airflow imported it
    assert Param("de", **LANGUAGE).resolve() == "de"
    with pytest.raises(ParamValidationError, match="'xx' is not one of"):
        Param("xx", **LANGUAGE).resolve()
