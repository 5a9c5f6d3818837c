"""The validated configuration, remembered between commands so start-up does not validate it again.

Validating ``config.toml`` means building pydantic's schemas for some thirty
models (and APScheduler's cron parser for every schedule): most of what a
short command such as ``gymconsole tool`` spent before doing its work.  After
a full validation the result is written, as JSON, to the per-user cache folder;
the next command whose configuration is byte for byte the same rebuilds the
sections from it with ``from_dump`` (no pydantic, no validation).

What a cached result is keyed by: the config file's resolved path and bytes,
gymconsole's version, and the source of the modules whose rules decide what is
valid (the ``config*.py`` modules, and the tool names workflows may use).  Validation reads
no environment variable (the variables named in the file, such as
``delivery.smtp.password_env``, are read when used), so none is part of the key.
A bad configuration is never cached: it fails with the same one line every
time.  The configuration holds no secret (only the names of the variables that
hold them), and the file is private to its owner like the gym's other files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from gymconsole import __version__
from gymconsole.config import Config, config_from_bytes, read_config_bytes

CACHE_FORMAT = 1
PACKAGE = Path(__file__).resolve().parent
RULES_ELSEWHERE = ("tools/names.py",)
"""Rules of a valid configuration outside the ``config*.py`` modules: the tool names workflows may use."""
log = logging.getLogger(__name__)


def load_config_cached(path: str | os.PathLike[str], cache_dir: Path | None = None) -> Config:
    """As :func:`gymconsole.config.load_config`, validating only when this file was not validated before."""
    source = Path(path)
    raw = read_config_bytes(source)
    resolved = source.resolve()
    try:
        key = cache_key(resolved, raw)
    except OSError as exc:  # no source files to key by (a frozen build): validate every time
        log.info("configuration cache not used: %s", exc)
        return config_from_bytes(raw, source)
    folder = default_cache_dir() if cache_dir is None else cache_dir
    cache_file = folder / f"config-{hashlib.sha256(str(resolved).encode()).hexdigest()[:16]}.json"
    config = read_cached(cache_file, key, resolved)
    if config is None:
        config = config_from_bytes(raw, source)  # a ConfigError leaves the cache as it was
        write_cached(cache_file, key, config)
    return config


def default_cache_dir() -> Path:
    """The per-user cache folder (``~/.cache/gymconsole`` on Linux, ``%LOCALAPPDATA%\\gymconsole\\Cache``)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("gymconsole", appauthor=False))


def rule_sources() -> list[Path]:
    """The source files that decide what a valid configuration is: a change to any of them misses every cached
    result.  Every ``config*.py`` module (the sections, their checks, their validation), found rather than
    listed, so a section moved to a new module is keyed without anyone remembering to add it here."""
    return [*sorted(PACKAGE.glob("config*.py")), *(PACKAGE / name for name in RULES_ELSEWHERE)]


def cache_key(resolved: Path, raw: bytes) -> str:
    digest = hashlib.sha256(f"{CACHE_FORMAT}\0{__version__}\0{resolved}\0".encode())
    for rules in rule_sources():
        digest.update(rules.read_bytes())
    digest.update(b"\0" + raw)
    return digest.hexdigest()


def read_cached(cache_file: Path, key: str, resolved: Path) -> Config | None:
    """The configuration cached under ``key``; None when there is none, it is stale or it cannot be read."""
    try:
        entry = json.loads(cache_file.read_bytes())
        if entry.get("key") != key or entry.get("digest") != _digest(entry["config"]):
            return None
        return Config.from_dump(entry["config"]).model_copy(
            update={"source_path": resolved, "file_keys": frozenset(entry["file_keys"])})
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # missing, unreadable or damaged: validated again and rewritten, as on a first start


def write_cached(cache_file: Path, key: str, config: Config) -> None:
    """Write the cache entry atomically, readable by its owner only; a folder that cannot be written means
    every start validates (as before there was a cache), never a failed command."""
    from gymconsole.paths import private_dir, private_file

    data = config.model_dump(mode="json")
    entry = {"key": key, "digest": _digest(data), "file_keys": sorted(config.file_keys), "config": data}
    temporary = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
    try:
        private_dir(cache_file.parent)
        temporary.unlink(missing_ok=True)
        private_file(temporary)
        temporary.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, cache_file)
    except OSError as exc:
        log.info("configuration cache not written: %s", exc)
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass  # the folder itself is what failed: there is nothing to remove


def _digest(data: Any) -> str:
    """A checksum of the cached values: an entry edited or damaged in place is not trusted."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
