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
"""

from __future__ import annotations

from textual._styles_cache import StylesCache
from textual.dom import DOMNode


def drop_stale_queries(root: DOMNode) -> int:
    """Forget the cached ``query_one`` results of ``root`` and its descendants that can never be hit again."""
    dropped = 0
    for node in (root, *root.walk_children(with_self=False)):
        cache = node._query_one_cache
        current = node._nodes._updates
        for key in [key for key in cache.keys() if key[0] != current]:
            cache.discard(key)
            dropped += 1
    return dropped


def release_removed_widgets(root: DOMNode) -> None:
    """After widgets under ``root`` were removed: let go of what Textual's caches keep of them."""
    drop_stale_queries(root)
    StylesCache.get_inner_outer.cache_clear()
