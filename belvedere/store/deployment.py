"""One deployment of belvedere: which store it uses, what it is called, where its own files live.

A deployment is named by its store URL (setting ``store``, ``BELVEDERE_STORE``, or ``--store``):

- a DuckDB file — a path (``belvedere.duckdb``) or ``duckdb:///abs/path.duckdb`` — the embedded
  default, one server process owning the file (docs/deployment.md says how the CLI reaches it
  while ``belvedere serve`` runs);
- ``:memory:`` — an in-memory DuckDB for tests and examples: nothing is written to disk, and its
  throw-away keys live as long as the :class:`Deployment` object;
- ``postgresql://user@host:port/db`` — the server store, shared by any number of processes.

Besides the store, a deployment has files of its own, which must never be derived from a store
path by whoever happens to need them: the development fallbacks of the pseudonymisation key and
the access log's signing key (production takes both from the environment), the live folder of
micro-batches, the hand-off socket of a served DuckDB file, and the analysts' reports. They live
under :attr:`Deployment.home` — beside a DuckDB file (``<store>.audit.key``, as before), and in a
per-database folder for PostgreSQL (setting ``home``, by default
``~/.local/state/belvedere/<host>-<port>-<db>``, so that every process of the deployment, from any
working directory, finds the same keys).

Example:
    >>> d = Deployment.from_url("postgresql://belvedere:secret@db.example:5433/city")
    >>> d.kind, d.identity, d.display
    ('postgresql', 'postgresql://db.example:5433/city', 'postgresql://belvedere:***@db.example:5433/city')
    >>> Deployment.from_url(":memory:").file(".audit.key") is None
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from belvedere.errors import ConfigError
from belvedere.settings import setting

Kind = Literal["duckdb", "postgresql"]
T = TypeVar("T")

MEMORY = ":memory:"
POSTGRES_SCHEMES = ("postgresql", "postgres")


def _redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (what logs and screens show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}"))


@dataclass(eq=False)
class Deployment:
    """A deployment: its store URL and the places of its own files.

    Attributes:
        url: the store URL as given (may hold a password: show :attr:`display`).
        kind: ``duckdb`` or ``postgresql``.
        path: the DuckDB file (``None`` for ``:memory:`` and PostgreSQL).
        home: folder of the deployment's own files (``None``: in memory, nothing on disk).
        prefix: file-name prefix of those files inside ``home`` (a DuckDB file's own name, so
            that its keys stay ``<store>.pseudonym.key`` beside it).
        identity: a stable name of the store without secrets (the DuckDB file's absolute path,
            or ``postgresql://host:port/db``), the same from any process and working directory.
    """

    url: str
    kind: Kind
    path: Path | None
    home: Path | None
    prefix: str
    identity: str
    _ephemeral: dict[str, object] = field(default_factory=dict, repr=False)

    @classmethod
    def from_url(cls, url: str | os.PathLike[str] | None = None) -> Deployment:
        """The deployment of ``url`` (the ``store`` setting when ``None``).

        Raises:
            ConfigError: an empty URL or a scheme belvedere has no store for.
        """
        text = str(url if url is not None else setting("store")).strip()
        if not text:
            raise ConfigError("no store given: set BELVEDERE_STORE or pass --store")
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme in POSTGRES_SCHEMES:
            parts = urlsplit(text)
            db = unquote(parts.path.lstrip("/")) or (parts.username or "postgres")
            host = parts.hostname or "localhost"
            port = parts.port or 5432
            identity = f"postgresql://{host}:{port}/{db}"
            home_setting = setting("home")
            home = (Path(home_setting) if home_setting else
                    Path.home() / ".local" / "state" / "belvedere" / f"{host}-{port}-{db}")
            return cls(text, "postgresql", None, home.absolute(), "belvedere.", identity)
        if scheme == "duckdb":
            text = text[len("duckdb://"):]
        elif scheme:
            raise ConfigError(f"store {_redact(text)!r}: no store for {scheme}:// — give a "
                              "DuckDB file path or a postgresql:// URL")
        if text == MEMORY or not text:
            return cls(MEMORY, "duckdb", None, None, "", f"duckdb:{MEMORY}:{id(object())}")
        path = Path(text).expanduser().absolute()
        return cls(text, "duckdb", path, path.parent, path.name, str(path))

    @property
    def in_memory(self) -> bool:
        """Whether nothing of this deployment is on disk."""
        return self.home is None

    @property
    def display(self) -> str:
        """The URL as shown to people and written to logs (no password)."""
        return _redact(self.url)

    def file(self, suffix: str) -> Path | None:
        """The deployment's own file ``<prefix><suffix>`` in :attr:`home` (``None`` in
        memory): ``.pseudonym.key``, ``.audit.key``, ``.live``…"""
        return None if self.home is None else self.home / f"{self.prefix}{suffix}"

    def secret(self, suffix: str, *, create: bool = True) -> str | None:
        """The hex secret kept in the deployment's file ``suffix`` (``.pseudonym.key``,
        ``.audit.key``): 32 random bytes written the first time when ``create`` (else
        ``None`` while there is no file); ``None`` in memory (see :meth:`ephemeral`).

        Every process of a deployment must get the same key, and on a server deployment
        several start at once (workers, the live bridge, a CLI ingest): the first file is
        written whole under a private name and linked into place, which fails if another
        process linked first — then its key is the one read. Nobody reads a half-written key.
        """
        path = self.file(suffix)
        if path is None:
            return None
        if not path.exists():
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32))
                    f.flush()
                    os.fsync(f.fileno())
                # Another process of the deployment may have linked first: its key holds.
                with contextlib.suppress(FileExistsError):
                    os.link(draft, path)
            finally:
                draft.unlink()
        return path.read_text().strip()

    def ephemeral(self, name: str, make: Callable[[], T] | None) -> T | None:
        """A throw-away secret of an in-memory deployment, made once by ``make`` and kept as
        long as this object (so that two calls give the same key, and no file is written);
        with ``make=None``, the secret if it was made, else ``None``."""
        if name not in self._ephemeral:
            if make is None:
                return None
            self._ephemeral[name] = make()
        return self._ephemeral[name]  # type: ignore[return-value]

    @property
    def live_dir(self) -> Path:
        """The live folder: the ``live_dir`` setting, else ``<prefix>.live`` in :attr:`home`
        (a temporary folder of this process in memory)."""
        if setting("live_dir"):
            return Path(setting("live_dir"))
        folder = self.file(".live")
        if folder is None:
            return Path(tempfile.gettempdir()) / f"belvedere-live-{os.getpid()}-{id(self):x}"
        return folder

    @property
    def reports_dir(self) -> Path:
        """The analysts' reports (setting ``reports``), absolute: a command handed to the
        running server writes where the server serves them from."""
        return Path(setting("reports")).absolute()

    @property
    def runtime_dir(self) -> Path:
        """A folder only this OS user can enter (mode 0700) for the deployment's sockets:
        ``$XDG_RUNTIME_DIR/belvedere``, else ``<tmp>/belvedere-<uid>``."""
        base = os.environ.get("XDG_RUNTIME_DIR")
        folder = (Path(base) / "belvedere" if base else
                  Path(tempfile.gettempdir()) / f"belvedere-{os.getuid()}")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
            raise ConfigError(f"{folder} must belong to you and be closed to others (mode 0700)")
        return folder

    @property
    def socket_path(self) -> Path:
        """Where a server serving this store listens for commands handed over by the CLI
        (named by a hash of :attr:`identity`: a socket path must stay under 108 bytes)."""
        digest = hashlib.sha256(self.identity.encode("utf-8")).hexdigest()[:20]
        return self.runtime_dir / f"{digest}.sock"
