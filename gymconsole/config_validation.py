"""pydantic validators built from the configuration sections, only when a configuration is validated.

A cache hit never imports this module: it is for a new or edited ``config.toml``, ``config check`` (the
config screen's ``v``) and the sections' constructors.  For each section it builds, once, a pydantic model
with the section's annotations (their ``Field(...)`` bounds evaluated now, with pydantic's ``Field``), its
defaults and aliases, its ``@check`` field validators and the model settings the configuration always had
(unknown keys refused, no NaN or infinity, booleans are not numbers).  The model validates the input; the
result is handed over as the section itself, whose ``@check_after`` rules then run on it.  A section given
as anything but a table (a TOML array, say) is refused as "Input should be a valid dictionary".
"""

from __future__ import annotations

import sys
from functools import cache
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from gymconsole.config_base import ConfigSection


def validate(cls: type[ConfigSection], data: Any) -> Any:
    """``data`` validated as ``cls``; raises pydantic's ValidationError."""
    return _adapter(cls).validate_python(data)


@cache
def _adapter(cls: type[ConfigSection]) -> TypeAdapter[Any]:
    return TypeAdapter(cls, config=ConfigDict(title=cls.__name__))  # errors say "for CronSchedule", as they did


def core_schema_of(cls: type[ConfigSection], handler: Any) -> core_schema.CoreSchema:
    """The section's schema: its pydantic model's, then the model's values handed over as the section."""
    model = pydantic_model(cls)
    afters = [function for kind, _, function in cls.checks if kind == "after"]
    befores = [function for kind, _, function in cls.checks if kind == "before"]

    def before(data: Any) -> Any:
        for function in befores:
            data = function(model, data)
        return _booleans_are_not_numbers(model, data)

    def to_section(validated: BaseModel) -> ConfigSection:
        section = cls.model_construct(**{name: getattr(validated, name) for name in cls.model_fields})
        for function in afters:
            function(section)
        return section

    def as_is_or_validated(value: Any, validator: core_schema.ValidatorFunctionWrapHandler) -> Any:
        return value if isinstance(value, cls) else validator(value)  # a section is valid already

    inner = core_schema.no_info_after_validator_function(
        to_section, core_schema.no_info_before_validator_function(before, handler.generate_schema(model)))
    return core_schema.no_info_wrap_validator_function(as_is_or_validated, inner)


@cache
def pydantic_model(cls: type[ConfigSection]) -> type[BaseModel]:
    """The pydantic model that validates a section (built once per section)."""
    namespace = {**vars(sys.modules[cls.__module__]), "Field": Field}
    annotations = {}
    body: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                            "model_config": ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                                                       title=cls.__name__)}
    for name, field in cls.model_fields.items():
        annotations[name] = eval(field.annotation, namespace)  # noqa: S307 - config.py's own annotations
        settings: dict[str, Any] = {}
        if field.alias:
            settings["alias"] = field.alias
        if field.exclude:
            settings["exclude"] = True
        if field.default_factory is not None:
            settings["default_factory"] = field.default_factory
        elif not field.is_required():
            settings["default"] = field.default
        body[name] = Field(**settings)
    body["__annotations__"] = annotations
    for index, (kind, fields, function) in enumerate(cls.checks):
        if kind == "field":
            body[f"check_{index}_{function.__name__}"] = field_validator(*fields)(classmethod(function))
    return type(cls.__name__, (BaseModel,), body)


def _booleans_are_not_numbers(model: type[BaseModel], data: Any) -> Any:
    """``bulk_threshold = true`` would be read as 1: a number must be written as a number."""
    if not isinstance(data, dict):
        return data
    fields = model.model_fields
    errors = [InitErrorDetails(type=PydanticCustomError("bool_number", "expected a number, got {value}",
                                                        {"value": str(value).lower()}), loc=(key,), input=value)
              for key, value in data.items()
              if isinstance(value, bool) and key in fields and _is_number(fields[key].annotation)]
    if errors:
        raise ValidationError.from_exception_data(model.__name__, errors)
    return data


def _is_number(annotation: Any) -> bool:
    """int or float, alone or in a union without bool."""
    if annotation in (int, float):
        return True
    return (get_origin(annotation) in (Union, UnionType) and bool not in get_args(annotation)
            and bool({int, float} & set(get_args(annotation))))
