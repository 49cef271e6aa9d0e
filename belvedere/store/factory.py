"""The one place a store is opened: from its URL, whatever the backend.

:func:`open_store` reads the URL (a DuckDB path, ``:memory:`` or ``postgresql://…``; see
:mod:`belvedere.store.deployment`) and returns the :class:`~belvedere.store.base.Store` of its
backend, migrated. Nothing outside ``belvedere/store/`` constructs a backend class itself.

Example:
    >>> store = open_store(":memory:")
    >>> store.deployment.kind, store.schema_version() > 0
    ('duckdb', True)
    >>> store.close()
"""

from __future__ import annotations

import os

from belvedere.errors import StoreError
from belvedere.store.base import Store
from belvedere.store.deployment import Deployment


def open_store(url: str | os.PathLike[str] | Deployment | None = None, *,
               read_only: bool = False, must_exist: bool = False) -> Store:
    """The store at ``url`` (the ``store`` setting when ``None``), migrated unless
    ``read_only``.

    Args:
        read_only: open without writing (no migration). A DuckDB file held by another process
            cannot be opened even so: see docs/deployment.md.
        must_exist: refuse (:class:`StoreError`) a DuckDB file that does not exist instead of
            creating an empty store — what every read-only command wants (a typo in
            ``--store`` must not answer "access log intact" about an empty new file).

    Raises:
        StoreError: the store cannot be opened (:class:`~belvedere.errors.StoreBusy` when
            another process holds a DuckDB file); ``ConfigError`` for an unusable URL.
    """
    deployment = url if isinstance(url, Deployment) else Deployment.from_url(url)
    if deployment.kind == "postgresql":
        from belvedere.store.postgres.store import PostgresStore

        return PostgresStore(deployment, read_only=read_only)
    if must_exist and deployment.path is not None and not deployment.path.exists():
        raise StoreError(f"no store at {deployment.path} (check --store / BELVEDERE_STORE)")
    from belvedere.store.duckdb.store import DuckDBStore

    return DuckDBStore(deployment, read_only=read_only)
