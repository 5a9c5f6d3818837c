"""What a console left open for weeks must let go of that Textual would keep.

Textual caches ``query_one`` results on the node queried, keyed by (the count of
changes to that node's descendants, selector, type), in an LRU of 1,024 entries,
and clears the cache only when the node itself is removed.  A long-lived node
whose descendants come and go (the live screen, its tab bar) therefore keeps up
to 1,024 removed widgets alive, each with its rendered lines: measured, about
0.5 MB per run in a console soak.  An entry keyed by an older change count can
never be hit again (the count only grows), so dropping it loses nothing.

Textual also memoises ``StylesCache.get_inner_outer`` with a process-wide
``lru_cache(1024)`` on an instance method: each entry keeps a widget's styles
cache, with every line it drew, alive after the widget is gone.  Clearing it
costs two ``Style`` objects per widget on its next paint.

A widget that watches another node's reactive (``self.watch(other, ...)``, and
``data_bind``) is listed on the watched node, and Textual drops the entry of a
closed widget only when the watched value next changes (Textualize/textual#6666).
Two such values never change here: every ``Footer`` re-composes its keys when the
bindings change (each ``FooterKey`` is bound to the footer's ``compact``), and
every ``Header`` watches the app's ``title``.  So each footer kept every key it
ever drew and the app every header of every live screen it ever pushed: measured,
680 removed footer keys after 90 runs.  :func:`sweep` drops those entries by the
rule Textual itself uses (the watcher is closing), and is run every
``SWEEP_SECONDS`` by :func:`install`.

A ``DataTable`` caches drawn cells (up to 10,000), rows and lines (1,000 each) keyed
by, among others, its count of changes, so every change leaves the cells drawn
before it cached until the LRU pushes them out: a table changed every second (the
dashboard's workflows) or a page redrawn each time its screen opens (the history)
fills all 10,000, a few MB per table, ever further from what is on screen.  Entries
keyed by an older count can never be hit again; the sweep drops them.

Textual memoises eleven ``Region`` operations (intersection, union, grow, ...) in
process-wide ``lru_cache``s of 1,024 or 4,096 entries, about 25,000 in all, which
fill slowly as regions never seen before come and go (12,000 more live regions
between runs 50 and 214 of a soak).  The sweep empties them: what a screen needs
again is recomputed on its next layout, a few microseconds an entry.

Likewise a ``Signal`` forgets a removed subscriber only when it next publishes, and
its callback (a closure over the subscriber) keeps the subscriber, a whole screen,
alive until then; the sweep prunes the app's signals by the rule ``publish`` uses.

Memory freed is not memory given back.  Python's small-object allocator returns an
arena (1 MB) only when every object in it is gone, and the C allocator gives back
little of the middle of its heaps (the database thread's has a heap of its own), so a
process's resident memory follows the highest its heap has been, not what it holds.
A read whose size grows with what is stored, made again and again, raises that mark a
little each time: the dashboard counted the approvals waiting by reading every one,
plans and all (7 KB each, sorted by SQLite), at every run, and the pending list read
and parsed every plan on each opening; with a few hundred waiting, the console's RSS
rose 2-4 MB every 50 runs while its live objects stayed flat.  What the console reads
again and again is therefore sized by what it shows, not by what has piled up: the
count is counted by SQLite, the list reads rows without their plans, and a plan is
read when it is shown (``engine/approvals.py``, ``screens/pending.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual._styles_cache import StylesCache
from textual.app import App
from textual.dom import DOMNode
from textual.geometry import Region
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import DataTable

SWEEP_SECONDS = 10.0
"""How often the console lets go of removed widgets (a sweep of about 150 nodes took 2-18 ms at load 5)."""

WATCHERS = "__watchers"
"""The attribute on which Textual lists a reactable's watchers by reactive name (textual/reactive.py ``_watch``)."""


def drop_stale_queries(root: DOMNode) -> int:
    """Forget the cached ``query_one`` results of ``root`` and its descendants that can never be hit again."""
    dropped = 0
    for node in (root, *root.walk_children(with_self=False)):
        dropped += _drop_stale_queries_of(node)
    return dropped


def _drop_stale_queries_of(node: DOMNode) -> int:
    cache = node._query_one_cache
    current = node._nodes._updates
    stale = [key for key in cache.keys() if key[0] != current]
    for key in stale:
        cache.discard(key)
    return len(stale)


def drop_closed_watchers(node: Any) -> int:
    """Forget the watchers of ``node``'s reactives that belong to closed (removed) widgets."""
    watchers: dict[str, list[tuple[Any, Any]]] = getattr(node, WATCHERS, None) or {}
    dropped = 0
    for entries in watchers.values():
        kept = [(watcher, callback) for watcher, callback in entries if not watcher._closing]
        dropped += len(entries) - len(kept)
        entries[:] = kept
    return dropped


def drop_stale_table_caches(table: DataTable[Any]) -> int:
    """Forget the cells, rows and lines ``table`` drew before its latest change (their keys can never be hit again)."""
    current = table._update_count
    dropped = 0
    # The change count is the second-to-last part of these keys, the first of the row renderables' (Textual 8.2).
    for cache, at in ((table._cell_render_cache, -2), (table._row_render_cache, -2), (table._line_cache, -2),
                      (table._row_renderable_cache, 0)):
        stale = [key for key in cache.keys() if key[at] != current]
        for key in stale:
            cache.discard(key)
        dropped += len(stale)
    return dropped


def drop_gone_subscribers(signal: Signal[Any]) -> int:
    """Forget the subscribers of ``signal`` that are no longer running in the DOM (as its next publish would)."""
    gone = [node for node in list(signal._subscriptions.keys())
            if not (node.is_running and node.is_attached) or node._pruning]
    for node in gone:
        signal.unsubscribe(node)
    return len(gone)


def release_removed_widgets(root: DOMNode) -> None:
    """After widgets under ``root`` were removed: let go of what Textual's caches keep of them."""
    drop_stale_queries(root)
    StylesCache.get_inner_outer.cache_clear()


def _nodes(app: App[Any]) -> Iterator[DOMNode]:
    """The app and every node of every screen it holds (stacked, or installed and kept for later)."""
    screens = {id(screen): screen for stack in app._screen_stacks.values() for screen in stack}
    screens.update((id(screen), screen) for screen in app._installed_screens.values() if isinstance(screen, Screen))
    yield app
    for screen in screens.values():
        yield from screen.walk_children(with_self=True)


def sweep(app: App[Any]) -> int:
    """Let go of every removed widget Textual's caches and watcher lists still hold; how many entries went."""
    dropped = 0
    for node in _nodes(app):
        dropped += drop_closed_watchers(node) + _drop_stale_queries_of(node)
        if isinstance(node, DataTable):
            dropped += drop_stale_table_caches(node)
    for value in list(vars(app).values()):
        if isinstance(value, Signal):
            dropped += drop_gone_subscribers(value)
    StylesCache.get_inner_outer.cache_clear()
    for method in vars(Region).values():
        if hasattr(method, "cache_clear"):
            method.cache_clear()
    return dropped


def install(app: App[Any]) -> None:
    """Sweep every ``SWEEP_SECONDS`` for as long as the app runs."""
    app.set_interval(SWEEP_SECONDS, lambda: sweep(app), name="memory sweep")
