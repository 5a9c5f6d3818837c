"""gymconsole: a terminal operations console for a gym's front desk.

``from gymconsole import Console`` gives the Python API (:mod:`gymconsole.api`);
it is imported only when asked for, so ``import gymconsole`` stays cheap.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["AsyncConsole", "Console", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Console", "AsyncConsole"):
        from gymconsole import api

        return getattr(api, name)
    raise AttributeError(f"module 'gymconsole' has no attribute {name!r}")
