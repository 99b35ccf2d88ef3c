"""The OpenAPI document, read without a server: what a generated client relies on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.admin.schemas import SettingsOut
from api.app import create_app
from engine.settings import DEFAULTS, LIMITS

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def operations() -> list[tuple[str, str, dict[str, Any]]]:
    document = create_app().openapi_schema.to_schema()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_has_a_stable_name_and_an_area(operations) -> None:
    names = [op["operationId"] for _, _, op in operations]

    assert all(re.fullmatch(r"[a-z][A-Za-z]+", name) for name in names), names
    assert len(set(names)) == len(names)
    assert all(op.get("tags") for _, _, op in operations)


def test_every_success_answer_names_its_fields(operations) -> None:
    bare = [
        (method, path)
        for method, path, op in operations
        for status, answer in op["responses"].items()
        if status.startswith("2")
        for content in (answer.get("content") or {}).values()
        if content["schema"].get("type") == "object" and "properties" not in content["schema"]
    ]
    assert bare == []


def test_every_error_answer_is_a_problem_with_its_codes_and_an_example_of_each(
    operations,
) -> None:
    for method, path, op in operations:
        errors = {s: a for s, a in op["responses"].items() if s[0] in "45"}
        assert errors, (method, path)
        for status, answer in errors.items():
            assert list(answer["content"]) == [PROBLEM], (method, path, status)
            examples = answer["content"][PROBLEM]["examples"].values()
            codes = re.findall(r"`([a-z_]+)`", answer["description"].split("one of")[1])
            assert codes == [e["value"]["code"] for e in examples], (method, path, status)
            assert all(e["value"]["status"] == int(status) for e in examples)


def test_the_settings_schema_lists_every_setting() -> None:
    assert set(SettingsOut.__struct_fields__) == set(LIMITS) == set(DEFAULTS)
