"""The CLI while a server runs: commands handed over a local socket to the process that holds
the embedded store.

A DuckDB file admits one process. ``belvedere serve`` (and ``belvedere live``) keep it open for
as long as they run, so a second process cannot open it — not even to read. Rather than take the
operators' screen down for an ingest, or make the server give up its connection between
requests (reopening a database per request costs its cache and its speed), the CLI hands its
command to the server:

1. The server listens on a Unix socket of its own (``<runtime dir>/<hash of the store>.sock``,
   in a folder only its OS user may enter, socket mode 0600) — :class:`HandoffServer`.
2. The CLI (:func:`forward`, called by :func:`belvedere.cli.main` before anything else) works
   out which store the command names; if a server of that store answers on its socket, it sends
   the command line, its working directory, its ``BELVEDERE_*`` settings and its terminal's
   width, and prints what comes back.
3. The server checks the peer's credentials (``SO_PEERCRED``: the same OS user as the server,
   the one who owns the store file anyway), then runs the very same command in a thread, on its
   own open store, printing into the socket (:func:`run_command`). The access log records the
   command under the peer's user name, as if it had run alone.

The channel is authenticated by the kernel (peer credentials, a private folder) and never leaves
the machine. Commands that must own the store — ``serve``, ``live``, ``demo`` — are not handed
over. A command that asks for a password asks at the user's terminal before it is sent.
Interrupting the CLI (Ctrl+C) stops the printing, not the command: it finishes in the server, and
whatever it stored is stored, transactionally as always.

Frames on the socket: the request is one JSON line; answers are frames of one kind byte
(``o``: output text, ``x``: the exit status) and a 4-byte big-endian length.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pwd
import shutil
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO, cast

import typer
from rich.console import Console

from belvedere.cli.context import Invocation, deployment_of, invoked
from belvedere.errors import BelvedereError, StoreError
from belvedere.settings import overlaid
from belvedere.store.base import Store
from belvedere.store.deployment import Deployment

log = logging.getLogger(__name__)

OWNERS = frozenset({"serve", "live", "demo"})
"""Commands that hold the store themselves: never handed over."""
INTERNAL_ERROR = 70
"""Exit status of a handed-over command that failed with a bug (EX_SOFTWARE)."""
_HEADER = struct.Struct(">cI")
_MAX_REQUEST = 1 << 20


# -- the client side --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Leaf:
    """The command a command line names: its path (``("audit", "verify")``) and its
    parameters as parsed (without running anything)."""

    path: tuple[str, ...]
    params: dict[str, Any]


def _leaf(argv: list[str]) -> _Leaf | None:
    """Parse ``argv`` as the app would, without running it (``None``: not a command)."""
    from belvedere.cli.app import app

    command: Any = typer.main.get_command(app)
    try:
        ctx = command.make_context("belvedere", list(argv), resilient_parsing=True)
        path: list[str] = []
        while hasattr(command, "resolve_command"):  # a group: go down to its command
            rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not rest:
                return None
            name, sub, args = command.resolve_command(ctx, rest)
            if sub is None or name is None:
                return None
            path.append(name)
            ctx = sub.make_context(name, args, parent=ctx, resilient_parsing=True)
            command = sub
    except typer.TyperException:
        return None
    return _Leaf(tuple(path), dict(ctx.params))


def server_of(argv: list[str]) -> Path | None:
    """The socket of a running server that holds the store ``argv``'s command works on
    (``None``: the command opens the store itself)."""
    leaf = _leaf(argv)
    if leaf is None or not leaf.path or leaf.path[0] in OWNERS or "store" not in leaf.params:
        return None
    try:
        deployment = deployment_of(leaf.params["store"])
    except BelvedereError:
        return None  # the command itself will say what is wrong with its --store
    if deployment.kind != "duckdb" or deployment.path is None:
        return None  # PostgreSQL takes many processes; memory stores are private
    path = deployment.socket_path
    return path if path.exists() else None


def forward(argv: list[str]) -> int | None:
    """Hand ``argv``'s command to the server holding its store and relay its output; returns
    the command's exit status, or ``None`` when no server holds that store (run it here)."""
    path = server_of(argv)
    if path is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None  # a socket left by a server that died: the store is free
    leaf = _leaf(argv)
    assert leaf is not None
    argv, stdin = _with_input(list(argv), leaf)
    request = {"argv": argv, "cwd": os.getcwd(), "stdin": stdin,
               "env": {k: v for k, v in os.environ.items() if k.startswith("BELVEDERE_")},
               "width": shutil.get_terminal_size().columns, "tty": sys.stdout.isatty()}
    with sock:
        sock.sendall(json.dumps(request).encode("utf-8") + b"\n")
        return _relay(sock, sys.stdout)


def _with_input(argv: list[str], leaf: _Leaf) -> tuple[list[str], str | None]:
    """What the command will read, gathered here: a password asked at this terminal (the
    server has none), or this process's stdin for ``--password-stdin``."""
    if "password_stdin" not in leaf.params:
        return argv, None
    if leaf.params["password_stdin"]:
        return argv, sys.stdin.read()
    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return [*argv, "--password-stdin"], password + "\n"


def _relay(sock: socket.socket, out: TextIO) -> int:
    """Print the server's output frames until the exit status arrives."""
    reader = sock.makefile("rb")
    while True:
        header = reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            out.write("error: the server closed the connection before the command ended\n")
            return INTERNAL_ERROR
        kind, size = _HEADER.unpack(header)
        payload = reader.read(size)
        if kind == b"x":
            return int(payload.decode("ascii"))
        out.write(payload.decode("utf-8", errors="replace"))
        out.flush()


# -- the server side --------------------------------------------------------------------------

class _Sink(io.TextIOBase):
    """A text stream whose writes become output frames on a socket."""

    def __init__(self, sock: socket.socket, tty: bool) -> None:
        self._sock = sock
        self._tty = tty
        self._lock = threading.Lock()
        self.broken = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._tty

    def write(self, text: str) -> int:
        if text and not self.broken:
            self.frame(b"o", text.encode("utf-8", errors="replace"))
        return len(text)

    def frame(self, kind: bytes, payload: bytes) -> None:
        with self._lock:
            try:
                self._sock.sendall(_HEADER.pack(kind, len(payload)) + payload)
            except OSError:
                self.broken = True  # the client went away: the command still runs to its end


_routed: ContextVar[IO[str] | None] = ContextVar("belvedere_handoff_stdout", default=None)


class _Routed(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of a server taking commands: what a handed-over command
    writes with ``print`` or ``click.echo`` goes to its socket, the rest to the real stream."""

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def _target(self) -> IO[str]:
        return _routed.get() or self.real

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    def fileno(self) -> int:
        return self.real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


_install_lock = threading.Lock()


def _route_std_streams() -> None:
    with _install_lock:
        if not isinstance(sys.stdout, _Routed):
            sys.stdout = _Routed(sys.stdout)
        if not isinstance(sys.stderr, _Routed):
            sys.stderr = _Routed(sys.stderr)


@contextlib.contextmanager
def _routed_to(stream: IO[str]) -> Iterator[None]:
    token = _routed.set(stream)
    try:
        yield
    finally:
        _routed.reset(token)


def run_command(argv: list[str], inv: Invocation, env: dict[str, str] | None = None) -> int:
    """Run one command line as ``inv`` (its console, store, user, working directory and
    input) and return its exit status, whatever happens in it."""
    from belvedere.cli.app import app

    command = typer.main.get_command(app)
    stream = inv.console.file
    with invoked(inv), overlaid(env or {}), _routed_to(stream):
        try:
            result = command.main(args=argv, prog_name="belvedere", standalone_mode=False)
        except typer.Exit as exc:
            return int(exc.exit_code)
        except typer.TyperException as exc:  # a usage error: bad option, missing argument
            show = getattr(exc, "show", None)
            if show is not None:
                show(file=stream)
            else:
                stream.write(f"error: {exc}\n")
            return int(getattr(exc, "exit_code", 2))
        except typer.Abort:
            stream.write("Aborted.\n")
            return 1
        except Exception as exc:  # a bug in one command must not take the server down
            log.exception("handed-over command %s failed", argv[:2])
            stream.write(f"internal error: {exc.__class__.__name__}: {exc}\n")
            return INTERNAL_ERROR
    return result if isinstance(result, int) else 0


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class HandoffServer:
    """Takes commands for ``store`` on its deployment's socket while the server runs.

    Args:
        store: the open store the commands work on.
        run: runs one command (default :func:`run_command`; a test may pass its own).
    """

    def __init__(self, store: Store,
                 run: Callable[[list[str], Invocation, dict[str, str]], int] | None = None
                 ) -> None:
        self.store = store
        self.deployment: Deployment = store.deployment
        self.path = self.deployment.socket_path
        self._run = run or run_command
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> HandoffServer:
        """Bind the socket and start taking commands.

        Raises:
            StoreError: another live server already answers for this store.
        """
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink(missing_ok=True)  # left by a server that died
            else:
                raise StoreError(f"another server takes commands for {self.deployment.display}"
                                 f" at {self.path}")
            finally:
                probe.close()
        _route_std_streams()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        sock.listen(16)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="belvedere-handoff",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop taking commands (those running finish) and remove the socket."""
        self._stop.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while not self._stop.is_set() and self._sock is not None:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="belvedere-command",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            sink: _Sink | None = None
            try:
                uid = _peer_uid(conn)
                request = self._request(conn)
                sink = _Sink(conn, bool(request.get("tty")))
                if uid != os.getuid():
                    sink.write(f"refused: this server takes commands from uid {os.getuid()} "
                               f"only, not {uid}\n")
                    sink.frame(b"x", b"2")
                    return
                inv = Invocation(
                    user=pwd.getpwuid(uid).pw_name, cwd=Path(str(request["cwd"])),
                    console=Console(file=cast(IO[str], sink),
                                    width=max(40, int(request.get("width") or 100)),
                                    force_terminal=bool(request.get("tty")),
                                    color_system="standard" if request.get("tty") else None,
                                    highlight=False),
                    stdin=io.StringIO(str(request.get("stdin") or "")), store=self.store)
                env = {str(k): str(v) for k, v in dict(request.get("env") or {}).items()}
                code = self._run([str(a) for a in request["argv"]], inv, env)
                sink.frame(b"x", str(code).encode("ascii"))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("refused a handed-over command: %s", exc)
                if sink is not None:
                    sink.write(f"refused: {exc}\n")
                    sink.frame(b"x", b"2")

    @staticmethod
    def _request(conn: socket.socket) -> dict[str, Any]:
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                raise ValueError("the request ended early")
            data += chunk
            if len(data) > _MAX_REQUEST:
                raise ValueError("the request is too long")
        request = json.loads(data)
        if not isinstance(request, dict) or not isinstance(request.get("argv"), list):
            raise ValueError("not a command request")
        return request
