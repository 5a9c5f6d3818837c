"""Tool arguments: one definition (tools/args.py), the stored schemas made from it, and what they accept."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gymconsole.tools import schemas
from gymconsole.tools.registry import REGISTRY
from gymconsole.tools.schemas import InvalidArguments

ROOT = Path(__file__).resolve().parent.parent
PYDANTIC_PYTHON_LAYER = {"pydantic.main", "pydantic.fields", "pydantic.type_adapter", "pydantic.json_schema"}
MADE_ONLY_BY_THE_GENERATOR = {"gymconsole.tools.args", "gymconsole.tools.schemagen"}


def test_the_stored_schemas_are_made_from_args_py() -> None:
    from gymconsole.tools.schemagen import generate, render

    stored = schemas.SCHEMA_FILE.read_text(encoding="utf-8")
    assert stored == render(generate()), "tools/schemas.json is out of date: run python -m gymconsole.tools.schemagen"


def test_every_tool_has_its_schemas_and_the_two_agree() -> None:
    for name in REGISTRY:
        tool = REGISTRY[name]
        assert tool.args in schemas.names(), (name, tool.args)
        fields_agree(name, tool.input_schema(), schemas._schemas()[tool.args]["core_schema"])


def fields_agree(where: str, shown: dict[str, Any], checked: dict[str, Any]) -> None:
    """The model is shown exactly the arguments that are accepted, the same ones required, nested objects too."""
    while checked["type"] in ("default", "nullable"):
        checked = checked["schema"]
    if shown.get("type") == "array":
        fields_agree(where, shown["items"], checked["items_schema"])
    if shown.get("type") != "object":
        return
    assert checked["type"] == "typed-dict" and checked["extra_behavior"] == "forbid", where
    assert shown["additionalProperties"] is False, where
    assert list(shown["properties"]) == list(checked["fields"]), where
    assert set(shown.get("required", [])) == {key for key, f in checked["fields"].items() if f["required"]}, where
    for key, prop in shown["properties"].items():
        fields_agree(f"{where}.{key}", prop, checked["fields"][key]["schema"])


def test_what_is_shown_to_the_model_is_what_it_was() -> None:
    """The cached prompt prefix starts with these: a byte changed in one costs a cache write on every workflow."""
    member = REGISTRY["get_member"].definition()["input_schema"]
    assert json.dumps(member) == ('{"additionalProperties": false, "properties": {"member_id": {"description": '
                                  '"The member\'s ID.", "minimum": 1, "type": "integer"}}, "required": ["member_id"], '
                                  '"type": "object"}')
    filters = REGISTRY["get_campaign_prospects"].input_schema()["properties"]["filters"]
    assert filters["properties"]["stage"] == {"enum": ["new", "contacted", "toured", "trial"], "type": "string",
                                              "description": "Only prospects at this stage."}
    assert REGISTRY["get_member"].input_schema() is not REGISTRY["get_member"].input_schema()  # callers get copies


@pytest.mark.parametrize(("name", "args", "phrase"), [
    ("get_member", {"member_id": "7"}, "member_id: Input should be a valid integer"),
    ("get_member", {"member_id": 7.0}, "member_id: Input should be a valid integer"),
    ("get_green_members", {"limit": True}, "limit: true/false is not a number or an ID"),
    ("get_past_due_members", {"filters": {"min_amount": False}}, "filters.min_amount: true/false is not a number"),
    ("get_past_due_members", {"filters": {"min_amount": float("nan")}}, "filters.min_amount: Input should be a finite"),
    ("get_past_due_members", {"filters": {"min_amount": 1e17}}, "filters.min_amount: Input should be less than or equal to 10000000"),
    ("restore_door_access", {"member_ids": [1, 2**63]}, "member_ids.1: numbers must fit in 64 bits"),
    ("flag_invoice", {"invoices": [{"invoice_id": 1, "reason": "other", "urgent": 1}]},
     "invoices.0.urgent: unknown argument"),
    ("query_gym", {"sql": ""}, "sql: String should have at least 1 character"),
])
def test_arguments_are_refused_in_one_line(name: str, args: dict[str, Any], phrase: str) -> None:
    with pytest.raises(InvalidArguments) as refused:
        REGISTRY[name].parse_args(args)
    message = str(refused.value)
    assert message.startswith("invalid arguments: ") and phrase in message and "\n" not in message


def test_validated_arguments_are_plain_data_with_the_defaults_filled_in() -> None:
    assert REGISTRY["get_past_due_members"].parse_args({"filters": {"min_amount": 3}}) == {
        "limit": 5, "filters": {"min_days": None, "min_amount": 3.0}}
    assert REGISTRY["suspend_door_access"].parse_args({"member_ids": [2, 2**63 - 1]}) == {
        "member_ids": [2, 2**63 - 1], "reason": "past due"}


def test_stale_schemas_are_made_again_from_args_py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    stale = tmp_path / "schemas.json"
    stale.write_text(json.dumps({"key": "made from an older args.py", "args": {}}), encoding="utf-8")
    monkeypatch.setattr(schemas, "SCHEMA_FILE", stale)
    schemas._schemas.cache_clear()
    schemas._validator.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=schemas.__name__):
            assert REGISTRY["get_member"].parse_args({"member_id": 3}) == {"member_id": 3}
        assert "run python -m gymconsole.tools.schemagen" in caplog.text
    finally:
        schemas._schemas.cache_clear()
        schemas._validator.cache_clear()


TOOL_PROBE = """
import json, sys
from gymconsole.tools.registry import REGISTRY
from gymconsole.tools.read import READ_TOOLS
REGISTRY["get_member"].parse_args({"member_id": 1})
[tool.definition() for tool in READ_TOOLS]
REGISTRY["query_gym"].definition()
print(json.dumps(sorted(sys.modules)))
"""


def test_looking_up_and_validating_a_read_tool_imports_no_pydantic_python_layer() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", TOOL_PROBE], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    modules = set(json.loads(result.stdout))
    assert not modules & (PYDANTIC_PYTHON_LAYER | MADE_ONLY_BY_THE_GENERATOR | {"gymconsole.config"})
    assert "pydantic_core" in modules


def test_the_tool_command_makes_no_schema(demo_path: Path) -> None:
    from test_startup import CONFIG, loaded_by

    argv = ("tool", "get_member", '{"member_id": 1}', "--db", str(demo_path), "--config", CONFIG)
    loaded_by(*argv)  # the first run validates the configuration and caches it
    out, modules = loaded_by(*argv)
    assert json.loads(out)["member"]["id"] == 1
    # no pydantic Python layer at all (a cached configuration needs none either), no schema built, and so no
    # plugin loader run (it imports importlib.metadata)
    assert not modules & (PYDANTIC_PYTHON_LAYER | {"importlib.metadata"} | MADE_ONLY_BY_THE_GENERATOR)
