"""The meaning of each configuration field, read from its docstring only when asked.

Every field in ``config.py`` carries a docstring.  Reading them means parsing
the module's source (pydantic's ``use_attribute_docstrings`` did it at import,
which every command paid for: tens of ms at start-up); the config screen (and
any help that shows them) asks here instead, and the source is parsed once, on
first use.
"""

from __future__ import annotations

import ast
import inspect
import sys
from functools import cache

from gymconsole.config_base import ConfigSection


def field_doc(model: type[ConfigSection], name: str) -> str:
    """The description of ``model.name``: its docstring in the class (or a base class) that declares it."""
    for klass in model.__mro__:
        if isinstance(klass, type) and issubclass(klass, ConfigSection) and klass is not ConfigSection:
            doc = _docstrings(klass.__module__).get(klass.__qualname__, {}).get(name)
            if doc:
                return doc
    return ""


@cache
def _docstrings(module_name: str) -> dict[str, dict[str, str]]:
    """``{class qualname: {field: docstring}}`` for every class in a module (parsed once)."""
    module = sys.modules.get(module_name)
    try:
        tree = ast.parse(inspect.getsource(module)) if module is not None else None
    except (OSError, TypeError):  # no source shipped (a frozen build): no descriptions, not a crash
        return {}
    found: dict[str, dict[str, str]] = {}
    stack: list[tuple[str, ast.AST]] = [("", tree)] if tree is not None else []
    while stack:
        prefix, node = stack.pop()
        for child in getattr(node, "body", []):
            if isinstance(child, ast.ClassDef):
                qualname = f"{prefix}{child.name}"
                found[qualname] = _class_docs(child)
                stack.append((qualname + ".", child))
    return found


def _class_docs(node: ast.ClassDef) -> dict[str, str]:
    docs: dict[str, str] = {}
    for statement, following in zip(node.body, node.body[1:]):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs
