"""Tool arguments at run time: the JSON schemas the model sees and the validation of what it sends.

Both come from ``schemas.json``, made from :mod:`gymconsole.tools.args` by
:mod:`gymconsole.tools.schemagen`.  Validation is ``pydantic_core`` over the
stored core schema: a command that calls one tool imports no pydantic Python
layer and builds no schema (the validator for one argument type is built in
microseconds).  The file is stored with the key of the sources it was made
from; when they have changed since (a developer edited ``args.py``), the
schemas are made again in memory from the sources, so the rules in force are
always those of ``args.py``, and a warning says to regenerate the file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

from pydantic_core import SchemaValidator, ValidationError

SCHEMA_FORMAT = 1
HERE = Path(__file__).resolve().parent
SCHEMA_FILE = HERE / "schemas.json"
SOURCES = (HERE / "args.py", HERE / "schemagen.py")
"""What the file is made from: a change to either makes the stored schemas stale."""
INT64_MAX = 2**63 - 1
INT64_MIN = -INT64_MAX - 1
SAMPLE_SIZE = 5
"""Sample rows a read tool shows by default, and items an act's result lists."""
MAX_DOLLARS = 10_000_000
"""The largest dollar amount a filter takes: larger ones are no balance (and 1e17 made SQLite overflow)."""
MAX_PROBLEMS = 5
log = logging.getLogger(__name__)


class InvalidArguments(ValueError):
    """A tool call's arguments broke its schema; the message is one line for the model or the person."""


def validate(args_name: str, raw: Any) -> dict[str, Any]:
    """``raw`` checked against the argument type ``args_name``: a new dict with every default filled in."""
    try:
        return _validator(args_name).validate_python(raw)
    except ValidationError as exc:
        raise InvalidArguments(_message(exc)) from None


def input_schema(args_name: str) -> dict[str, Any]:
    """The JSON schema of ``args_name`` as the Messages API takes it (a copy: the stored one stays as made)."""
    return copy.deepcopy(_schemas()[args_name]["input_schema"])


def names() -> frozenset[str]:
    return frozenset(_schemas())


@cache
def _validator(args_name: str) -> SchemaValidator:
    return SchemaValidator(_schemas()[args_name]["core_schema"])


@cache
def _schemas() -> dict[str, Any]:
    stored = json.loads(SCHEMA_FILE.read_bytes()) if SCHEMA_FILE.exists() else {}
    try:
        current = source_key()
    except OSError:  # no sources beside the file (a frozen build): the file is all there is
        if "args" not in stored:
            raise RuntimeError(f"{SCHEMA_FILE} is missing or damaged and there is no args.py to make it from: "
                               "reinstall gymconsole") from None
        return stored["args"]
    if stored.get("key") == current:
        return stored["args"]
    log.warning("%s is missing or out of date with gymconsole/tools/args.py: run python -m "
                "gymconsole.tools.schemagen", SCHEMA_FILE.name)
    from gymconsole.tools.schemagen import generate

    return generate()["args"]


def source_key() -> str:
    """The key the schemas are stored under: this format and the bytes of their sources (OSError without them)."""
    digest = hashlib.sha256(f"{SCHEMA_FORMAT}\0".encode())
    for source in SOURCES:
        digest.update(source.read_bytes().replace(b"\r\n", b"\n") + b"\0")  # a Windows checkout is the same source
    return digest.hexdigest()


def _message(error: ValidationError) -> str:
    parts = []
    for problem in error.errors(include_url=False)[:MAX_PROBLEMS]:
        where = ".".join(str(p) for p in problem["loc"]) or "input"
        kind = problem["type"]
        if kind == "extra_forbidden":
            parts.append(f"{where}: unknown argument (not in the schema)")
        elif kind == "missing":
            parts.append(f"{where}: required argument missing")
        elif kind in ("int_type", "float_type") and isinstance(problem["input"], bool):
            parts.append(f"{where}: true/false is not a number or an ID")
        elif kind in ("less_than_equal", "greater_than_equal") and abs(_bound(problem)) >= INT64_MAX:
            parts.append(f"{where}: numbers must fit in 64 bits")
        else:
            parts.append(f"{where}: {problem['msg']}")
    return "invalid arguments: " + "; ".join(parts)


def _bound(problem: Any) -> float:
    context = problem.get("ctx") or {}
    return float(context.get("le", context.get("ge", 0)))
