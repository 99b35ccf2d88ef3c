"""Services answer typed read models, never JSON-shaped dicts (issue 18)."""

from __future__ import annotations

import inspect
import typing
from dataclasses import fields
from types import ModuleType

from engine import administration
from engine.administration import RulesSettings
from engine.intake import staff as intake_staff
from engine.privacy import flows as privacy_flows
from engine.settings import DEFAULTS


def _public_services(module: ModuleType) -> list[tuple[str, object]]:
    return [
        (name, function)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and not name.startswith("_")
    ]


def test_the_settings_read_model_names_every_setting() -> None:
    assert {field.name for field in fields(RulesSettings)} == set(DEFAULTS)


def test_the_settings_read_model_reads_the_defaults() -> None:
    assert RulesSettings.of(DEFAULTS).default_radius_km == DEFAULTS["default_radius_km"]


def test_staff_and_homeowner_services_answer_no_dicts() -> None:
    answering_dicts = [
        f"{module.__name__}.{name}"
        for module in (administration, privacy_flows, intake_staff)
        for name, function in _public_services(module)
        if typing.get_origin(typing.get_type_hints(function).get("return")) is dict
    ]

    assert answering_dicts == []
