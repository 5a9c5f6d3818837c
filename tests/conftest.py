"""Shared fixtures: the repo's config, a deterministic demo database, a fake clock, the fake API.

The demo database is built once per test session (at a fixed reference date)
and copied for each test that wants one, so tests never share state.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeapi import FakeAnthropicServer  # noqa: E402
from fakeclock import FakeClock  # noqa: E402

from gymconsole.config import Config, load_config  # noqa: E402
from gymconsole.db import Database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO_TODAY = date(2026, 11, 2)
"""The demo gym's 'today': every test sees the same data (a Monday, 10:00 in New York)."""
DEMO_NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def private_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The per-user cache folder (the validated configuration) of this session, not the user's own: commands run
    in-process and in subprocesses alike find it through XDG_CACHE_HOME."""
    folder = tmp_path_factory.mktemp("user-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def repo_config() -> Config:
    return load_config(ROOT / "config.toml")


@pytest.fixture
def config(repo_config: Config, tmp_path: Path) -> Config:
    """The shipped configuration, pointed at a database in this test's folder."""
    return repo_config.model_copy(update={"database": repo_config.database.model_copy(
        update={"path": str(tmp_path / "gym.db")})})


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gymconsole.db.demo import create_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    asyncio.run(create_demo(path, scale=1, today=DEMO_TODAY))
    return path


@pytest.fixture
def demo_path(demo_template: Path, config: Config) -> Path:
    """A fresh copy of the demo database at the config's database path."""
    target = config.database_path()
    shutil.copyfile(demo_template, target)
    return target


@pytest.fixture
async def demo_db(demo_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(demo_path)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(DEMO_NOW)


@pytest.fixture
def fake_api() -> Iterator[FakeAnthropicServer]:
    server = FakeAnthropicServer().start()
    try:
        yield server
    finally:
        server.close()
