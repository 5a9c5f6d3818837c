"""Helpers for the delivery tests: configs that point at local servers, outbox rows as acting tools write them."""

from __future__ import annotations

from typing import Any

from gymconsole.clock import Clock, iso
from gymconsole.config import AlertsConfig, Config, DeliveryConfig, DoorControllerConfig, SafetyConfig
from gymconsole.db import Database


def with_delivery(config: Config, **delivery: Any) -> Config:
    """The config with ``[delivery]`` replaced (validated like the file would be)."""
    return config.model_copy(update={"delivery": DeliveryConfig.model_validate(delivery)})


def with_door(config: Config, **door: Any) -> Config:
    return config.model_copy(update={"door_controller": DoorControllerConfig.model_validate(door)})


def with_alerts(config: Config, **alerts: Any) -> Config:
    return config.model_copy(update={"alerts": AlertsConfig.model_validate(alerts)})


def with_quiet_hours(config: Config, start: int, end: int) -> Config:
    safety = config.safety.model_dump() | {"quiet_hours_start": start, "quiet_hours_end": end}
    return config.model_copy(update={"safety": SafetyConfig.model_validate(safety)})


def smtp_settings(port: int, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "desk@gym.test",
            "timeout_seconds": 2.0, **extra}


async def contactable_members(db: Database, count: int, *, column: str = "email") -> list[dict[str, Any]]:
    """Active, not opted-out demo members with a ``column`` on file."""
    return await db.fetch_all(f"SELECT id, first_name, email, phone FROM members WHERE opted_out = 0 "
                              f"AND status = 'active' AND {column} IS NOT NULL ORDER BY id LIMIT ?", [count])


async def queue_messages(db: Database, clock: Clock, people: list[dict[str, Any]], channel: str = "email",
                         kind: str = "campaign", person_kind: str = "member") -> list[int]:
    """Queue one message per person, as an acting tool does (status 'queued', a unique effect key)."""
    ids = []
    async with db.write() as tx:
        for person in people:
            address = person["email"] if channel == "email" else person["phone"]
            key = f"test:{kind}:{person_kind}-{person['id']}:{channel}:{iso(clock.now())}"
            row_id = await tx.insert(
                "INSERT INTO outbox (effect_key, kind, channel, person_kind, person_id, to_address, subject, body, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [key, kind, channel, person_kind, person["id"], address, "Your account",
                 f"Hi {person['first_name']}, a note from the gym.", iso(clock.now())])
            assert row_id is not None
            ids.append(row_id)
    return ids


async def statuses(db: Database, ids: list[int]) -> dict[int, dict[str, Any]]:
    marks = ",".join("?" * len(ids))
    rows = await db.fetch_all(f"SELECT * FROM outbox WHERE id IN ({marks})", ids)
    return {row["id"]: row for row in rows}
