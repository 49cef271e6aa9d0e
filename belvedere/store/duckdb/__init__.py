"""The embedded store: one DuckDB file (or ``:memory:``), no server.

Open it with :func:`belvedere.store.factory.open_store`; :class:`DuckDBStore` is its backend.
"""

from belvedere.store.duckdb.store import DuckDBStore

__all__ = ["DuckDBStore"]
