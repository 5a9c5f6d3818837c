"""Make ``schemas.json`` from ``args.py``: ``python -m gymconsole.tools.schemagen`` (a test checks it is current).

For each TypedDict in :mod:`gymconsole.tools.args`, pydantic makes:

* the JSON schema shown to the model (``$ref``s inlined, titles dropped, an
  optional field with a ``None`` default shown as just its type: plainer for
  the model, and byte for byte what the tool definitions were before);
* the core schema ``pydantic_core.SchemaValidator`` validates with, made pure
  data (no classes, no functions, no ids), with the rule every tool shares
  added: numbers are finite and fit in 64 bits (a larger ID would make
  SQLite raise OverflowError deep in a query).

It imports pydantic's Python layer; nothing on a command's path imports it
except when ``schemas.json`` is out of step with its sources.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import TypeAdapter

from gymconsole.tools.schemas import INT64_MAX, INT64_MIN, SCHEMA_FILE, source_key



def generate() -> dict[str, Any]:
    """Every argument type's JSON schema and core schema, under the key of their sources."""
    from gymconsole.tools import args

    types = {name: value for name, value in vars(args).items()
             if isinstance(value, type) and issubclass(value, dict) and value.__module__ == args.__name__}
    schemas = {}
    for name, typed_dict in types.items():
        adapter = TypeAdapter(typed_dict)
        schemas[name] = {"input_schema": _inline_refs(adapter.json_schema()),
                         "core_schema": _pure_core_schema(adapter.core_schema, name)}
    return {"key": source_key(), "args": schemas}


def render(schemas: dict[str, Any]) -> str:
    return json.dumps(schemas, indent=1, ensure_ascii=False) + "\n"


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``$ref``s and drop titles: smaller, plainer schemas for the model."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            options = node.get("anyOf")
            if options and len(options) == 2 and {"type": "null"} in options and node.get("default", 0) is None:
                # Optional[X] with default None: the model just omits it.
                real = next(option for option in options if option != {"type": "null"})
                rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
                return resolve({**real, **rest})
            return {key: resolve(value) for key, value in node.items() if key != "title"}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)


def _pure_core_schema(schema: Any, name: str) -> dict[str, Any]:
    """The core schema as JSON data: definitions inlined, classes, refs and JSON-schema metadata dropped,
    numbers held to 64 bits; refuses a schema that needs Python code to validate."""
    definitions: dict[str, Any] = {}
    if schema["type"] == "definitions":
        definitions = {item["ref"]: item for item in schema["definitions"]}
        schema = schema["schema"]

    def pure(node: Any) -> Any:
        if isinstance(node, list):
            return [pure(value) for value in node]
        if not isinstance(node, dict):
            if callable(node) or isinstance(node, type):
                raise TypeError(f"{name}: {node!r} in its core schema is code, not data: express the rule as a "
                                "constraint (ge, max_length, Literal...) or apply it in the tool")
            return node
        if node.get("type") == "definition-ref":
            return pure(definitions[node["schema_ref"]])
        if node.get("type") == "typed-dict" and not (node.get("extra_behavior") == "forbid"
                                                     and node.get("config", {}).get("strict")):
            raise TypeError(f"{name}: every arguments object needs @with_config(ARGS) (unknown arguments refused, "
                            "strict numbers)")
        out = {key: pure(value) for key, value in node.items() if key not in ("cls", "ref", "metadata")}
        if out.get("type") in ("int", "float"):
            out["ge"] = max(out.get("ge", INT64_MIN), INT64_MIN)
            out["le"] = min(out.get("le", INT64_MAX), INT64_MAX)
        if out.get("type") == "float":
            out["allow_inf_nan"] = False  # JSON has no NaN, but Python's json module reads one
        return out

    return pure(schema)


def main(argv: list[str]) -> int:
    text = render(generate())
    if argv == ["--check"]:
        current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
        if current != text:
            print(f"{SCHEMA_FILE} is out of date: run python -m gymconsole.tools.schemagen", file=sys.stderr)
            return 1
        return 0
    SCHEMA_FILE.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
