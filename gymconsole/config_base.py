"""The base of every configuration section: plain classes, cheap to define, validated only when asked.

Every command loads the configuration at start-up, and pydantic's Python layer (``BaseModel``, ``Field``,
the schema builder) cost more to import than the rest of a short command.  So the sections in
``config.py`` are plain classes with string annotations (``from __future__ import annotations``): the
class statement records each field's name, default and alias and nothing more.  The bounds
(``Annotated[int, Field(ge=1)]``) and the checks are read only by :mod:`gymconsole.config_validation`,
which builds pydantic validators from them on a cache miss, ``config check`` or a constructor call.

A section keeps the part of pydantic's model API the code uses: ``Section(**values)`` and
``model_validate`` validate; ``model_construct``, ``model_copy``, ``model_dump`` and ``model_fields``
do not import pydantic at all.  Instances are frozen and compare by type and values.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, ClassVar, Self

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()
"""The default of a field the file must give."""


class FieldSpec:
    """One field of a section: what pydantic's ``FieldInfo`` told the code that reads ``model_fields``."""

    __slots__ = ("name", "annotation", "default", "default_factory", "alias", "exclude")
    description = None  # read from the field's docstring by config_docs, only when asked

    def __init__(self, name: str, annotation: str, default: Any = REQUIRED, default_factory: Callable[[], Any] | None
                 = None, alias: str | None = None, exclude: bool = False) -> None:
        self.name, self.annotation, self.default = name, annotation, default
        self.default_factory, self.alias, self.exclude = default_factory, alias, exclude

    def is_required(self) -> bool:
        return self.default is REQUIRED and self.default_factory is None

    def get_default(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    def __repr__(self) -> str:
        return f"FieldSpec({self.name}: {self.annotation})"


def spec(default: Any = REQUIRED, *, factory: Callable[[], Any] | None = None, alias: str | None = None,
         exclude: bool = False) -> Any:
    """A field's default when it is more than a value: built by ``factory`` (a fresh dict or section each
    time), read from the file under ``alias``, or ``exclude``-d from dumps (not part of the file)."""
    return FieldSpec("", "", default, factory, alias, exclude)


def check(*fields: str) -> Callable[[Callable[..., Any]], Any]:
    """Mark ``f(cls, value[, info])`` as pydantic's ``field_validator(*fields)``."""
    def mark(function: Callable[..., Any]) -> Any:
        function.__check__ = ("field", fields)  # type: ignore[attr-defined]
        return function
    return mark


def check_before(function: Callable[..., Any]) -> Any:
    """Mark ``f(cls, data) -> data`` to run on the section's raw input, before its fields are validated."""
    function.__check__ = ("before", ())  # type: ignore[attr-defined]
    return function


def check_after(function: Callable[..., Any]) -> Any:
    """Mark ``f(self) -> None`` to run on the validated section; a ValueError is the section's error."""
    function.__check__ = ("after", ())  # type: ignore[attr-defined]
    return function


class ConfigSection:
    """A configuration section: fields declared as annotated class attributes, with their docstrings below."""

    model_fields: ClassVar[dict[str, FieldSpec]] = {}
    checks: ClassVar[tuple[tuple[str, tuple[str, ...], Callable[..., Any]], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, FieldSpec] = {}
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if name.startswith("_") or str(annotation).startswith("ClassVar"):
                continue
            default = cls.__dict__.get(name, REQUIRED)
            if isinstance(default, FieldSpec):
                fields[name] = FieldSpec(name, annotation, default.default, default.default_factory, default.alias,
                                         default.exclude)
            else:
                fields[name] = FieldSpec(name, annotation, default)
            if name in cls.__dict__:
                delattr(cls, name)  # as in pydantic, the value lives on the instance only
        cls.model_fields = fields
        cls.checks = tuple((*value.__check__, value) for value in cls.__dict__.values()
                           if hasattr(value, "__check__"))

    def __init__(self, **values: Any) -> None:
        """Validate ``values`` (the file's keys, by alias) as pydantic did: a bad value raises ValidationError."""
        self.__dict__.update(type(self).model_validate(values).__dict__)

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """Validate ``data`` with every rule of this section (pydantic is imported here, on first use)."""
        from gymconsole.config_validation import validate

        return validate(cls, data)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from gymconsole.config_validation import core_schema_of

        return core_schema_of(cls, handler)

    @classmethod
    def model_construct(cls, **values: Any) -> Self:
        """A section from values already valid (no check at all); fields left out take their defaults."""
        self = object.__new__(cls)
        state = self.__dict__
        for name, field in cls.model_fields.items():
            if name in values:
                state[name] = values[name]
            elif not field.is_required():
                state[name] = field.get_default()
        return self

    @classmethod
    def from_dump(cls, data: dict[str, Any]) -> Self:
        """A section (and the sections inside it) rebuilt from its ``model_dump(mode="json")``, unchecked."""
        rebuild = _rebuilders(cls)
        return cls.model_construct(**{name: rebuild[name](value) if name in rebuild else value
                                      for name, value in data.items() if name in cls.model_fields})

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied, unchecked (as pydantic's ``model_copy``)."""
        if deep:
            import copy

            state = copy.deepcopy(self.__dict__)
        else:
            state = dict(self.__dict__)
        new = object.__new__(type(self))
        new.__dict__.update(state, **(update or {}))
        return new

    def model_dump(self, *, mode: str = "python", by_alias: bool = False,
                   exclude: set[str] | None = None) -> dict[str, Any]:
        """The values as plain dicts and lists (``mode="json"``: only JSON types), without excluded fields."""
        out = {}
        for name, field in type(self).model_fields.items():
            if field.exclude or (exclude and name in exclude) or name not in self.__dict__:
                continue
            out[field.alias if by_alias and field.alias else name] = _dumped(self.__dict__[name], mode, by_alias)
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: use model_copy(update={{{name!r}: ...}})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfigSection):
            return NotImplemented
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({shown})"


def _dumped(value: Any, mode: str, by_alias: bool) -> Any:
    if isinstance(value, ConfigSection):
        return value.model_dump(mode=mode, by_alias=by_alias)
    if isinstance(value, dict):
        return {key: _dumped(item, mode, by_alias) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_dumped(item, mode, by_alias) for item in value]
        return items if mode == "json" or isinstance(value, list) else type(value)(items)
    if mode == "json" and isinstance(value, PurePath):
        return str(value)
    return value


_REBUILDERS: dict[type, dict[str, Callable[[Any], Any]]] = {}


def _rebuilders(cls: type[ConfigSection]) -> dict[str, Callable[[Any], Any]]:
    """Per field holding sections (``GymConfig``, ``X | None``, ``dict[str, X]``, ``list[X]``), how its dumped
    value becomes sections again; worked out from the annotation's text once per class."""
    if cls not in _REBUILDERS:
        namespace = vars(sys.modules[cls.__module__])
        found = {}
        for name, field in cls.model_fields.items():
            annotation = str(field.annotation).replace(" ", "")
            rebuild = _rebuilder(annotation, namespace)
            if rebuild is not None:
                found[name] = rebuild
            elif any(isinstance(namespace.get(word), type) and issubclass(namespace[word], ConfigSection)
                     for word in re.findall(r"[A-Za-z_]\w*", annotation)):
                raise TypeError(f"{cls.__name__}.{name}: sections can be held as X, X | None, dict[str, X] or "
                                f"list[X], not {annotation}")  # a mistake in config.py, caught by its tests
        _REBUILDERS[cls] = found
    return _REBUILDERS[cls]


def _rebuilder(annotation: str, namespace: dict[str, Any]) -> Callable[[Any], Any] | None:
    section = namespace.get(annotation.removesuffix("|None"))
    if isinstance(section, type) and issubclass(section, ConfigSection):
        return lambda value: None if value is None else section.from_dump(value)
    for prefix, build in (("dict[str,", lambda inner: lambda value: {k: inner(v) for k, v in value.items()}),
                          ("list[", lambda inner: lambda value: [inner(v) for v in value])):
        if annotation.startswith(prefix) and annotation.endswith("]"):
            inner = _rebuilder(annotation[len(prefix):-1], namespace)
            return build(inner) if inner is not None else None
    return None
