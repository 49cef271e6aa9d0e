"""Scratch PostgreSQL databases for the benchmarks: one made fresh for a run, dropped after it.

Imported by the benchmarks that measure the server store (``pg_ingest.py``, ``audit_writers.py``,
``serving.py``); run from the repository as ``.venv/bin/python benchmarks/<name>.py``, which
puts this folder on the import path.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def database_url(admin: str, database: str) -> str:
    """``admin``'s URL with its database replaced by ``database``."""
    return urlunsplit(urlsplit(admin)._replace(path=f"/{database}"))


@contextmanager
def fresh_database(admin: str, *, dropped: Callable[[str], object] | None = None
                   ) -> Iterator[str]:
    """A new, empty database ``belvedere_bench_<random>`` on the server of ``admin`` (a role
    that may create databases); its URL. Dropped when the block ends, whatever happened in it
    (then ``dropped`` is told its name)."""
    name = f"belvedere_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                        .format(sql.Identifier(name)))
        if dropped is not None:
            dropped(name)
