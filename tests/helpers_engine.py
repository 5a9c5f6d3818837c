"""Helpers of the engine tests: the real engine (open_services) on the demo data, fake clock, fake API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gymconsole.config import Config
from gymconsole.engine.events import Event
from gymconsole.engine.services import Services, open_services
from gymconsole.tools.registry import Decision

KEY = "sk-ant-test-SECRET-7f3a9c1e5b"
"""A recognisable fake API key: it must appear nowhere but in the authorization header."""


class Events:
    """Every event of the bus, in order."""

    def __init__(self) -> None:
        self.all: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.all.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.all]

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.all if e.kind == kind]

    def text(self) -> str:
        return "".join(e.text for e in self.of("text"))

    def dump(self) -> str:
        return json.dumps([e.to_dict() for e in self.all], default=str)


def with_model(config: Config, **updates: Any) -> Config:
    return config.model_copy(update={"model": config.model.model_copy(update=updates)})


def with_workflow(config: Config, name: str, **updates: Any) -> Config:
    workflows = dict(config.workflows)
    workflows[name] = workflows[name].model_copy(update=updates)
    return config.model_copy(update={"workflows": workflows})


async def answer_yes(request: Any) -> Decision:
    return Decision("approved", "cli", "tester", "test says yes")


async def answer_no(request: Any) -> Decision:
    return Decision("denied", "cli", "tester", "test says no")


@asynccontextmanager
async def engine(config: Config, db_path: Path, clock: Any, *, api: Any = None, asker: Any = None,
                 offline: bool = False, dry_run: bool | None = None) -> AsyncIterator[tuple[Services, Events]]:
    """The real engine wired by open_services, with an event log subscribed."""
    async with open_services(config, db_path=db_path, clock=clock, asker=asker,
                             api_key=KEY if api is not None else "", base_url=api.base_url if api is not None else None,
                             offline=offline, dry_run=dry_run) as services:
        events = Events()
        services.bus.subscribe(events)
        services.runner.rng.seed(7)
        yield services, events
