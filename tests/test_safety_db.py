"""A cancelled writer (a run cancelled mid-write) must leave the shared connection usable."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gymconsole.db import Database


async def test_cancelling_a_writer_at_any_point_leaves_no_open_transaction(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db", create=True)
    try:
        for i in range(40):
            async def write(key: str = f"k{i}") -> None:
                async with db.write() as tx:
                    await tx.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", [key])

            task = asyncio.ensure_future(write())
            for _ in range(i % 5):  # cancel before, during and after BEGIN, the insert and COMMIT
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            async with db.write() as tx:  # raised "cannot start a transaction within a transaction" before the fix
                await tx.execute("INSERT INTO meta (key, value) VALUES (?, 'after')", [f"after{i}"])
        assert await db.fetch_value("SELECT COUNT(*) FROM meta WHERE value = 'after'") == 40
    finally:
        await db.close()
